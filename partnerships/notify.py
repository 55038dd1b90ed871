"""Where notifications go. The engine talks to a `Notifier`; which one is configuration."""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO

from pydantic import BaseModel, Field

# The error type a notifier raises when its configuration is wrong, not its target down:
# retrying cannot help, a person has to fix a setting.
NOTIFIER_MISCONFIGURED = "SlackConfiguration"


class OutgoingMessage(BaseModel):
    key: str
    kind: str
    partnership_id: str
    audience: list[str]
    subject: str
    body: str
    link: str
    # The facts the text was rendered from, for notifiers that lay a message out themselves.
    context: dict[str, Any] = Field(default_factory=dict)


class Notifier(Protocol):
    name: str

    def deliver(self, message: OutgoingMessage) -> str:
        """Send the message; return the receiving side's reference for it. Raise to retry."""
        ...


class ConsoleNotifier:
    """The default: the message is kept in the store and printed on the worker's console."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def deliver(self, message: OutgoingMessage) -> str:
        to = ", ".join(message.audience)
        self._stream.write(f"\n✉  [{message.kind}] to {to}\n   {message.subject}\n   {message.link}\n")
        self._stream.flush()
        return f"console:{message.key}"
