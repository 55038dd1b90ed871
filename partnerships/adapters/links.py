"""Signing links: the door for people who act from their inbox, not a terminal or Slack.

A link names one partnership, one person, one act and when it stops working; an HMAC
(secret from the environment) keeps anyone from making or editing one. The web process
that serves the link checks it, then signs the act with the **link door's** key, carrying
the link's nonce and expiry, so the workflow spends each link once (engine/proofs.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError

from partnerships.adapters.config import FromEnvironment
from partnerships.adapters.keys import SigningKey, door_public_key, unsigned_proof
from partnerships.engine.proofs import NONCE, Door, Proof, act_message

DEFAULT_WEB_URL = "http://127.0.0.1:8700"
LONGEST_TOKEN = 1_000


class LinkAct(StrEnum):
    """What a link lets its person do: the Update it sends."""

    SIGN = "sign_charter"
    RECOMMIT = "recommit"
    DECIDE = "decide"


# Which messages carry a link, and for what.
ACT_BY_MESSAGE = {
    "charter-ready": LinkAct.SIGN,
    "charter-reminder": LinkAct.SIGN,
    "recommitment-reminder": LinkAct.RECOMMIT,
    "review-opened": LinkAct.DECIDE,
    "review-reminder": LinkAct.DECIDE,
}


class LinkRefused(Exception):
    """A link that cannot be used, said in one line for the person who followed it."""


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    workflow_id: Annotated[str, StringConstraints(max_length=200)]
    email: Annotated[str, StringConstraints(max_length=254)]
    act: LinkAct
    expires_at: AwareDatetime
    nonce: Annotated[str, StringConstraints(pattern=NONCE)]
    # The charter the message was about: a link to sign signs that text and no other.
    charter_hash: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")] | None = None


class LinkSettings(FromEnvironment):
    """Where links point and how they are made and checked, from the environment only."""

    secret: SecretStr | None = Field(None, validation_alias="PARTNERSHIPS_LINK_SECRET")
    web_url: str = Field(DEFAULT_WEB_URL, validation_alias="PARTNERSHIPS_WEB_URL")
    door_key_file: Path | None = Field(None, validation_alias="PARTNERSHIPS_LINK_DOOR_KEY_FILE")
    door_public_key: str | None = Field(None, validation_alias="PARTNERSHIPS_LINK_DOOR_PUBLIC_KEY")
    hours: float = Field(72, gt=0, le=24 * 30, validation_alias="PARTNERSHIPS_LINK_HOURS")

    @property
    def enabled(self) -> bool:
        return self.secret is not None and bool(self.secret.get_secret_value())

    def door_key(self) -> str | None:
        """The link door's public key line: configured, or read from its key file; None without one."""
        return door_public_key(self.door_public_key, self.door_key_file)


class Links:
    """Makes and reads signing links with the secret."""

    def __init__(self, secret: str, web_url: str, lifetime: timedelta) -> None:
        if len(secret) < 16:
            raise ValueError("PARTNERSHIPS_LINK_SECRET: use at least 16 characters")
        self._secret = secret.encode("utf-8")
        self.web_url = web_url.rstrip("/")
        self.lifetime = lifetime

    @classmethod
    def from_settings(cls, settings: LinkSettings) -> Links:
        assert settings.secret is not None
        return cls(settings.secret.get_secret_value(), settings.web_url, timedelta(hours=settings.hours))

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode("ascii"), hashlib.sha256).digest())

    def issue(
        self,
        workflow_id: str,
        email: str,
        act: LinkAct,
        now: datetime | None = None,
        charter_hash: str | None = None,
    ) -> str:
        """A link's token: `<payload>.<mac>`, both base64url."""
        link = Link(
            workflow_id=workflow_id,
            email=email.lower(),
            act=act,
            expires_at=(now or datetime.now(UTC)) + self.lifetime,
            nonce=secrets.token_urlsafe(24),
            charter_hash=charter_hash,
        )
        body = _b64(link.model_dump_json().encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def url(self, token: str) -> str:
        return f"{self.web_url}/act/{token}"

    def read(self, token: str, now: datetime | None = None) -> Link:
        """The link a token stands for; `LinkRefused` when it was not made here, was edited or expired."""
        body, _, mac = token.partition(".")
        readable = token.isascii() and len(token) <= LONGEST_TOKEN and body and mac
        if not readable or not hmac.compare_digest(self._mac(body), mac):
            raise LinkRefused("this link is not one we sent, or it was changed; use the link from your email")
        try:
            link = Link.model_validate_json(_unb64(body))
        except (ValidationError, ValueError, binascii.Error):
            raise LinkRefused("this link cannot be read; use the link from your email") from None
        if (now or datetime.now(UTC)) > link.expires_at:
            raise LinkRefused(
                f"this link expired at {link.expires_at:%Y-%m-%d %H:%M %Z}; the next reminder brings a new one"
            )
        return link


class LinkDoorSigner:
    """The web process vouching for an act made through a link it has checked."""

    def __init__(self, key: SigningKey, link: Link) -> None:
        self.key, self.link = key, link

    def prove(self, workflow_id: str, update: str, request: BaseModel) -> Proof:
        link = self.link
        unsigned = unsigned_proof(Door.LINK, self.key, nonce=link.nonce, email=link.email, expires_at=link.expires_at)
        return unsigned.signed(self.key.sign(act_message(workflow_id, update, request, unsigned)))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
