"""Who made an act, proven: every request a person sends carries a proof the workflow checks.

A request is an Update's argument (a domain `Request`); its proof travels beside it as the
Update's second argument, so both land in the history together and anyone can check them
again later (`partnerships audit`). Two doors exist today:

- **cli**: the person signed the act with their own ed25519 key (`partnerships login`); the
  key must be one the charter lists for the person the request names.
- **slack**: the Slack app verified Slack's signature on a click and signed the act with the
  Slack door's key, naming the Slack user and workspace (team); the door key must be one the
  partnership was started to trust, and the user *and* team must be the person's in the charter.

What is signed is `act_message`: the workflow id, the Update's name, the request in canonical
JSON, and the proof's own fields (door, key, time, nonce, Slack ids), so a signature cannot be
moved to another partnership, another act, another request or another time. The check is
deterministic (no clock but the `now` passed in), so it runs in the workflow's validators.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from partnerships.domain.charter import Charter, Person, PublicKeyLine

# How far a proof's time may be from the workflow's: long enough for a slow network or a
# clock a little off, short enough that the nonces to remember stay few.
FRESHNESS = timedelta(minutes=10)

NONCE = r"^[A-Za-z0-9_-]{16,64}$"
KEY_LINE = re.compile(r"ssh-ed25519 ([A-Za-z0-9+/]{68}={0,2})(?: .*)?")


NO_PROOF = (
    "proof: the request carries no proof of who sent it; act through `partnerships` after "
    "`partnerships login`, through Slack, or through your signing link"
)


class Door(StrEnum):
    CLI = "cli"
    SLACK = "slack"
    LINK = "link"


class Doors(BaseModel):
    """The doors whose word a partnership takes: public keys of the Slack app and of the web
    process that serves signing links, as whoever started the partnership configured them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slack: list[PublicKeyLine] = Field(default_factory=list, max_length=5)
    link: list[PublicKeyLine] = Field(default_factory=list, max_length=5)

    def trusts(self, door: Door, key: str) -> bool:
        keys = self.slack if door is Door.SLACK else self.link if door is Door.LINK else []
        return bool(key_of(key)) and key_of(key) in {key_of(k) for k in keys}


class Proof(BaseModel):
    """Who sent a request, and the signature that shows it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    door: Door
    # The OpenSSH public key line of the key that signed: the person's (cli) or the door's.
    key: Annotated[str, StringConstraints(max_length=400)]
    signed_at: AwareDatetime
    nonce: Annotated[str, StringConstraints(pattern=NONCE)]
    signature: Annotated[str, StringConstraints(max_length=200)]
    slack_user: Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,20}$")] | None = None
    slack_team: Annotated[str, StringConstraints(pattern=r"^[TE][A-Z0-9]{2,20}$")] | None = None
    # Link door: the person the emailed link was made for, and when the link stops working.
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    expires_at: AwareDatetime | None = None

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key)


class Unsigned(BaseModel):
    """A proof's fields before its signature: what a signer fills in and signs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    door: Door
    key: str
    signed_at: AwareDatetime
    nonce: str
    slack_user: str | None = None
    slack_team: str | None = None
    email: str | None = None
    expires_at: AwareDatetime | None = None

    def signed(self, signature: bytes) -> Proof:
        return Proof(**self.model_dump(), signature=base64.b64encode(signature).decode("ascii"))


def act_message(workflow_id: str, update: str, request: BaseModel, proof: Unsigned | Proof) -> bytes:
    """The exact bytes a proof signs: canonical JSON, so any two parties compute the same.

    Fields at their defaults are left out, so a field added to a request or a proof later
    (with a default) leaves every earlier signature checkable."""
    fields = proof.model_dump(mode="json", exclude={"signature"}, exclude_defaults=True)
    request_fields = request.model_dump(mode="json", exclude_defaults=True)
    body = {"workflow_id": workflow_id, "update": update, "request": request_fields, **fields}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_of(line: str) -> str:
    """A public key line without its comment: `ssh-ed25519 AAAA…`, or '' when it is not one."""
    match = KEY_LINE.fullmatch(line.strip())
    return f"ssh-ed25519 {match.group(1)}" if match else ""


def key_fingerprint(line: str) -> str:
    """`SHA256:…` as `ssh-keygen -l` prints it, so people can compare keys by eye."""
    key = key_of(line)
    if not key:
        return "not an ssh-ed25519 key"
    digest = hashlib.sha256(base64.b64decode(key.split(" ", 1)[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def signature_holds(proof: Proof, message: bytes) -> bool:
    """True when the proof's key signed exactly these bytes."""
    key = key_of(proof.key)
    if not key:
        return False
    try:
        public = load_ssh_public_key(key.encode("ascii"))
        signature = base64.b64decode(proof.signature, validate=True)
    except (ValueError, binascii.Error, TypeError):
        return False
    if not isinstance(public, Ed25519PublicKey):
        return False
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _import_the_libraries_errors_now() -> None:
    """`cryptography`'s native code imports its exception types the first time it raises one.
    Inside the workflow sandbox that import fails and aborts the worker, so raise each once
    here, when this module is imported outside the sandbox (the worker imports the workflow)."""
    with contextlib.suppress(InvalidSignature):
        Ed25519PrivateKey.generate().public_key().verify(bytes(64), b"")


_import_the_libraries_errors_now()


def people_named(charter: Charter, actor: str) -> list[Person]:
    """Everyone in the charter the request's identity names (an email or a Slack user id)."""
    return [person for person in charter.people() if person.is_identified_by(actor)]


def problems_with_proof(
    proof: Proof | None,
    *,
    workflow_id: str,
    update: str,
    request: BaseModel,
    actor: str,
    charter: Charter,
    doors: Doors,
    seen_nonces: Mapping[str, datetime],
    now: datetime,
) -> list[str]:
    """Why this proof does not show that `actor` sent this request; empty when it does."""
    if proof is None:
        return [NO_PROOF]
    if abs(now - proof.signed_at) > FRESHNESS:
        return [
            f"proof.signed_at: {proof.signed_at:%Y-%m-%d %H:%M:%S %Z} is more than "
            f"{int(FRESHNESS.total_seconds() // 60)} minutes from the partnership's clock; "
            "check your computer's clock and send it again"
        ]
    if proof.nonce in seen_nonces:
        if proof.door is Door.LINK:
            return ["proof.nonce: this link was already used; each link acts once"]
        return ["proof.nonce: this signed request was already used; each request is signed afresh"]
    if proof.expires_at is not None and now > proof.expires_at:
        return [f"proof.expires_at: this link expired at {proof.expires_at:%Y-%m-%d %H:%M %Z}"]
    if not signature_holds(proof, act_message(workflow_id, update, request, proof)):
        return ["proof.signature: the signature does not match this request, this partnership or this key"]
    people = people_named(charter, actor)
    if not people:
        return []  # The domain refuses a stranger by name, as it always has.
    if proof.door is Door.CLI:
        if any(key_of(proof.key) in {key_of(k) for k in person.keys} for person in people):
            return []
        return [
            f"proof.key: {proof.fingerprint} is not a key the charter holds for {actor}; "
            "`partnerships login` prints yours, and `--as` only picks among your own identities"
        ]
    if not doors.trusts(proof.door, proof.key):
        return [f"proof.key: {proof.fingerprint} is not a {proof.door.value} door this partnership trusts"]
    if proof.door is Door.LINK:
        if proof.email is None or proof.email.lower() != actor.strip().lower():
            return [f"proof.email: this link was made for someone else, not {actor}"]
        return []
    if proof.slack_user != actor or not any(
        person.slack_user_id == proof.slack_user and person.slack_team_id == proof.slack_team for person in people
    ):
        return [f"proof.slack_team: this Slack user in workspace {proof.slack_team} is not {actor} in the charter"]
    return []


def remember_nonce(seen: dict[str, datetime], proof: Proof, now: datetime) -> None:
    """Keep each spent nonce, with when it may be forgotten: once its proof is too old to be
    accepted anyway (a link's, once the link has expired)."""
    forget_after = proof.signed_at + 2 * FRESHNESS
    if proof.expires_at is not None:
        forget_after = max(forget_after, proof.expires_at)
    seen[proof.nonce] = forget_after
    for nonce, until in list(seen.items()):
        if now > until:
            del seen[nonce]
