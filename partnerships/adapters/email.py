"""Email: the notifier for people without Slack, each message carrying their own signing link.

Host, port, TLS and credentials come from the environment (`SMTP_*`). A message goes to one
person (the outbox keeps one row per emailed person, so a retry never mails the others
again); its Message-ID is derived from the outbox key, so a mail client shows a retry that
did reach the server twice as one message.
"""

from __future__ import annotations

import asyncio
import hashlib
from email.message import EmailMessage
from email.utils import formataddr
from enum import StrEnum

import aiosmtplib
from pydantic import Field, SecretStr

from partnerships.adapters.config import FromEnvironment
from partnerships.adapters.links import ACT_BY_MESSAGE, LinkAct, Links
from partnerships.engine.notifier import NotifierMisconfigured, NotifierUnavailable, OutgoingMessage

SMTP_TIMEOUT_SECONDS = 20
WHAT_THE_LINK_DOES = {
    LinkAct.SIGN: "Read and sign the charter",
    LinkAct.RECOMMIT: "Re-commit to Run (or say the ROI model does not hold)",
    LinkAct.DECIDE: "Review the gate's evidence and decide",
}


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class EmailSettings(FromEnvironment):
    host: str | None = Field(None, validation_alias="SMTP_HOST")
    port: int = Field(587, validation_alias="SMTP_PORT")
    security: SmtpSecurity = Field(SmtpSecurity.STARTTLS, validation_alias="SMTP_SECURITY")
    username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    sender: str = Field("partnerships@localhost", validation_alias="SMTP_FROM")

    @property
    def enabled(self) -> bool:
        return bool(self.host)


class EmailNotifier:
    name = "email"

    def __init__(self, settings: EmailSettings, links: Links | None = None) -> None:
        if not settings.host:
            raise ValueError("SMTP_HOST: set the mail server to send email")
        self._settings = settings
        self._links = links

    def deliver(self, message: OutgoingMessage) -> str:
        [to] = message.audience
        mail = EmailMessage()
        mail["From"] = formataddr(("Partnerships", self._settings.sender))
        mail["To"] = to
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{hashlib.sha256(message.key.encode()).hexdigest()[:32]}@partnerships>"
        mail.set_content(self._text(message, to))
        try:
            asyncio.run(self._send(mail))
        except aiosmtplib.SMTPAuthenticationError as error:
            raise NotifierMisconfigured(
                f"SMTP_USERNAME/SMTP_PASSWORD: the mail server refused them ({error.code})"
            ) from None
        except aiosmtplib.SMTPRecipientsRefused:
            raise NotifierMisconfigured(f"the mail server refused the address {to}") from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise NotifierUnavailable(
                f"the mail server at {self._settings.host} did not take the message: {error}"
            ) from None
        return f"email:{to}:{mail['Message-ID']}"

    def _text(self, message: OutgoingMessage, to: str) -> str:
        text = f"{message.body}\n\n{message.link}\n"
        act = ACT_BY_MESSAGE.get(message.kind)
        if act is not None and self._links is not None:
            charter_hash = message.context.get("charter_hash")
            token = self._links.issue(
                message.partnership_id, to, act, charter_hash=charter_hash if isinstance(charter_hash, str) else None
            )
            hours = self._links.lifetime.total_seconds() / 3600
            text += (
                f"\n{WHAT_THE_LINK_DOES[act]}: {self._links.url(token)}\n"
                f"This link is yours alone, works once and expires in {hours:g} hours.\n"
            )
        return text

    async def _send(self, mail: EmailMessage) -> None:
        settings = self._settings
        await aiosmtplib.send(
            mail,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            use_tls=settings.security is SmtpSecurity.TLS,
            start_tls=settings.security is SmtpSecurity.STARTTLS,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
