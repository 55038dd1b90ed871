"""Deliver the outbox's messages through the configured notifier, once each.

The one place where a notifier's errors become Temporal's: unavailable is retried
(after the pause the notifier asked for), misconfigured stops the delivery until a
person fixes the setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from partnerships.engine import metrics
from partnerships.engine.contracts import ActivityName, SendNotificationInput
from partnerships.engine.notifier import (
    NOTIFIER_MISCONFIGURED,
    NOTIFIER_UNAVAILABLE,
    Notifier,
    NotifierMisconfigured,
    NotifierUnavailable,
    OutgoingMessage,
)
from partnerships.engine.ports import Delivered, MessageTemplates, QueuedMessage, Records


class Messenger:
    """Renders messages into the outbox and delivers them through the notifiers.

    The main notifier (Slack or the console) takes every message. With `email`, each person
    the main notifier cannot reach by name (no Slack user id, or no Slack at all) also gets
    the message as their own outbox row, delivered once like any other.
    """

    def __init__(
        self,
        records: Records,
        notifier: Notifier,
        texts: MessageTemplates,
        ui_url: str,
        *,
        email: Notifier | None = None,
    ) -> None:
        self._records = records
        self._notifier = notifier
        self._email = email
        self._texts = texts
        self._ui_url = ui_url

    def _link(self, partnership_id: str) -> str:
        return f"{self._ui_url}/workflows/{partnership_id}"

    def compose(self, request: SendNotificationInput, created_at: datetime) -> list[QueuedMessage]:
        """The message's outbox rows, its text rendered now: the main notifier's, then one per email."""
        subject, body = self._texts.render(request.kind, request.context, self._link(request.partnership_id))
        main = QueuedMessage(
            key=request.key,
            partnership_id=request.partnership_id,
            kind=request.kind,
            audience=[r.email for r in request.audience],
            subject=subject,
            body=body,
            notifier=self._notifier.name,
            created_at=created_at,
            context=request.context,
        )
        if self._email is None:
            return [main]
        on_slack = self._notifier.name == "slack"
        # One email per person, however many roles put them in the audience (owner and reviewer).
        emailed = list({r.email: r for r in request.audience if not (on_slack and r.slack_user_id)}.values())
        return [main] + [
            main.model_copy(
                update={
                    "key": f"{request.key}:email:{r.email}",
                    "audience": [r.email],
                    "notifier": self._email.name,
                    "created_at": created_at + timedelta(microseconds=i + 1),
                }
            )
            for i, r in enumerate(emailed)
        ]

    def pending(self, partnership_id: str) -> list[str]:
        """Keys of the partnership's undelivered messages, oldest first."""
        return self._records.pending_message_keys(partnership_id)

    def deliver(self, key: str) -> bool:
        """Deliver one outbox message unless it already went out. True when this call sent it."""
        queued = self._records.begin_delivery(key)
        if queued is None:
            return False
        reference = self._send(queued)
        self._records.finish_delivery(key, reference, datetime.now(UTC))
        return True

    def deliver_pending(self, partnership_id: str) -> int:
        """Deliver the partnership's undelivered messages in order, stopping at the first failure
        (raised). The store counts the attempts before and marks the deliveries after, one commit
        each for the whole batch: a step's messages cost two commits, not two apiece."""
        return self.deliver_claimed(self._records.begin_deliveries(partnership_id))

    def deliver_claimed(self, queued: list[QueuedMessage]) -> int:
        """Deliver messages whose attempt the store has counted (`begin_deliveries`), in order,
        stopping at the first failure (raised)."""
        delivered: list[Delivered] = []
        try:
            for message in queued:
                delivered.append(Delivered(message.key, self._send(message), datetime.now(UTC)))
        finally:
            # The message that failed was tried; those after it were not, and their count is taken back.
            self._records.finish_deliveries(delivered, untried=[m.key for m in queued[len(delivered) + 1 :]])
        return len(delivered)

    def _send(self, queued: QueuedMessage) -> str:
        """Hand one counted message to its notifier (never inside a store transaction: it may take seconds)."""
        notifier = self._email if self._email is not None and queued.notifier == self._email.name else self._notifier
        with notifier_errors_as_temporal_errors(), _counted(notifier.name):
            return notifier.deliver(
                OutgoingMessage(
                    key=queued.key,
                    kind=queued.kind,
                    partnership_id=queued.partnership_id,
                    audience=queued.audience,
                    subject=queued.subject,
                    body=queued.body,
                    link=self._link(queued.partnership_id),
                    context=queued.context,
                    # The store counted this attempt before the call; a retried activity knows too.
                    may_have_posted=queued.attempts > 1 or _retried_activity(),
                )
            )

    @activity.defn(name=ActivityName.DELIVER_PENDING_NOTIFICATIONS)
    def deliver_pending_notifications(self, partnership_id: str) -> int:
        """Empty the partnership's outbox in order, messages added meanwhile too; an error leaves
        the rest for the retry."""
        sent = 0
        while batch := self.deliver_pending(partnership_id):
            sent += batch
        return sent


@contextmanager
def notifier_errors_as_temporal_errors() -> Iterator[None]:
    try:
        yield
    except NotifierMisconfigured as error:
        raise ApplicationError(str(error), type=NOTIFIER_MISCONFIGURED, non_retryable=True) from None
    except NotifierUnavailable as error:
        raise ApplicationError(str(error), type=NOTIFIER_UNAVAILABLE, next_retry_delay=error.retry_after) from None


@contextmanager
def _counted(notifier: str) -> Iterator[None]:
    """Count a delivery and its failures on the worker's meter (outside an activity, as in a rebuild: not at all)."""
    meter = activity.metric_meter() if activity.in_activity() else None
    try:
        yield
    except Exception as error:
        if meter is not None:
            failed = metrics.NOTIFICATION_FAILURES
            meter.create_counter(failed.name, failed.description).add(
                1, {"notifier": notifier, "error": _failure_kind(error)}
            )
        raise
    if meter is not None:
        delivered = metrics.NOTIFICATIONS_DELIVERED
        meter.create_counter(delivered.name, delivered.description).add(1, {"notifier": notifier})


def _failure_kind(error: Exception) -> str:
    if isinstance(error, NotifierMisconfigured):
        return "misconfigured"
    if isinstance(error, NotifierUnavailable):
        return "unavailable"
    return "other"


def _retried_activity() -> bool:
    return activity.in_activity() and activity.info().attempt > 1
