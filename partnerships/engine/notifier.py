"""The notifier port: where messages go is configuration, what can go wrong is fixed here.

A notifier raises `NotifierUnavailable` (try again later) or `NotifierMisconfigured`
(a person must fix a setting). `activities.notifications` is the one place that turns
them into Temporal errors.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field

# The ApplicationError type of a misconfigured notifier: retrying cannot help, and the
# workflow leaves the message in the outbox instead of failing the partnership.
NOTIFIER_MISCONFIGURED = "NotifierMisconfigured"
NOTIFIER_UNAVAILABLE = "NotifierUnavailable"


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
    # An earlier attempt got as far as calling the notifier: it may have posted the message,
    # so a notifier that can look (Slack's channel history) looks before posting again.
    may_have_posted: bool = False


class NotifierUnavailable(Exception):
    """The notifier's target did not answer or asked us to wait: the delivery is retried."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotifierMisconfigured(Exception):
    """A token, channel or permission is wrong: retrying cannot help until a person fixes it."""


class Notifier(Protocol):
    name: str

    def deliver(self, message: OutgoingMessage) -> str:
        """Send the message; return the receiving side's reference for it."""
        ...
