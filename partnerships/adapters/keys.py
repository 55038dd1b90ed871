"""Private keys and the signatures made with them: the person's own (CLI) and the Slack door's.

Private keys live only in files the person owns (mode 0600) and in this process's memory;
what leaves is a public key line and signatures (see `partnerships.engine.proofs`).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from partnerships.domain.charter import Charter, people_in
from partnerships.engine.proofs import Door, Proof, Unsigned, act_message

KEY_FILE_NAME = "id_ed25519"


class KeyProblem(Exception):
    """A key file that cannot be used, said in one line."""


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "partnerships"


def default_key_file() -> Path:
    return config_dir() / KEY_FILE_NAME


class SigningKey:
    """An ed25519 private key and the public key line people put in charters."""

    def __init__(self, private: Ed25519PrivateKey, comment: str = "") -> None:
        self._private = private
        public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        self.public_line = public.decode("ascii") + (f" {comment}" if comment else "")

    @classmethod
    def generate(cls, comment: str = "") -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), comment)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Read an OpenSSH (or PEM) ed25519 private key without a passphrase."""
        try:
            data = path.read_bytes()
        except OSError as error:
            raise KeyProblem(f"{path}: cannot read the key ({error.strerror or error})") from None
        private: object
        try:
            private = serialization.load_ssh_private_key(data, password=None)
        except (ValueError, TypeError):
            try:
                private = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError):
                raise KeyProblem(
                    f"{path}: not an unencrypted ed25519 private key (a key with a passphrase cannot be adopted)"
                ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyProblem(f"{path}: not an ed25519 key; `partnerships login` creates one")
        comment = ""
        public_file = path.with_name(path.name + ".pub")
        if public_file.exists():
            parts = public_file.read_text(encoding="utf-8").split(maxsplit=2)
            comment = parts[2].strip() if len(parts) == 3 else ""
        return cls(private, comment)

    def save(self, path: Path) -> None:
        """Write the private key (0600, never over an existing file) and its `.pub` beside it."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        path.with_name(path.name + ".pub").write_text(self.public_line + "\n", encoding="utf-8")

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def door_public_key(configured: str | None, key_file: Path | None) -> str | None:
    """A door's public key line: the one configured, or read from the door's key file; None without either."""
    if configured:
        return configured
    if key_file is None or not key_file.exists():
        return None
    return SigningKey.load(key_file).public_line


class Signer(Protocol):
    """Makes the proof that goes with one request."""

    def prove(self, workflow_id: str, update: str, request: BaseModel) -> Proof: ...


def unsigned_proof(door: Door, key: SigningKey, *, nonce: str | None = None, **fields: Any) -> Unsigned:
    """A proof's fields, signed now with a fresh nonce (a link brings its own, to be spent once)."""
    return Unsigned(
        door=door, key=key.public_line, signed_at=datetime.now(UTC), nonce=nonce or secrets.token_urlsafe(24), **fields
    )


class PersonSigner:
    """A person acting from their own terminal with their own key (the CLI door)."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key

    def prove(self, workflow_id: str, update: str, request: BaseModel) -> Proof:
        unsigned = unsigned_proof(Door.CLI, self.key)
        return unsigned.signed(self.key.sign(act_message(workflow_id, update, request, unsigned)))


class SlackDoorSigner:
    """The Slack app vouching for a click whose Slack signature it has checked."""

    def __init__(self, key: SigningKey, slack_user: str, slack_team: str) -> None:
        self.key, self.slack_user, self.slack_team = key, slack_user, slack_team

    def prove(self, workflow_id: str, update: str, request: BaseModel) -> Proof:
        unsigned = unsigned_proof(Door.SLACK, self.key, slack_user=self.slack_user, slack_team=self.slack_team)
        return unsigned.signed(self.key.sign(act_message(workflow_id, update, request, unsigned)))


class Keyring:
    """Several people's keys in one process: the demo and the tests act for everyone."""

    def __init__(self) -> None:
        self._keys: dict[str, SigningKey] = {}

    def key_for(self, identity: str) -> SigningKey:
        identity = identity.strip().lower()
        if identity not in self._keys:
            self._keys[identity] = SigningKey.generate(identity)
        return self._keys[identity]

    def public_line(self, identity: str) -> str:
        return self.key_for(identity).public_line

    def signer_for(self, identity: str) -> PersonSigner:
        return PersonSigner(self.key_for(identity))

    def enrol(self, charter: Charter) -> Charter:
        """The charter with this keyring's key beside each person, as people paste their
        `partnerships login` keys into a real one (the demo's and the tests' throwaway keys)."""
        data = charter.model_dump(mode="json")
        for person in people_in(data):
            person["keys"] = [self.public_line(person["email"])]
        return Charter.model_validate(data)
