"""Send notifications through the configured notifier, once each."""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment
from temporalio import activity

from partnerships.contracts import ActivityName, NotificationReceipt, SendNotificationInput
from partnerships.notify import Notifier, OutgoingMessage
from partnerships.store import NotificationRow, Store, dumps, loads


class Messenger:
    def __init__(self, store: Store, notifier: Notifier, environment: Environment, ui_url: str):
        self._store = store
        self._notifier = notifier
        self._environment = environment
        self._ui_url = ui_url

    def _render(self, request: SendNotificationInput) -> OutgoingMessage:
        link = f"{self._ui_url}/workflows/{request.partnership_id}"
        text = self._environment.get_template(f"messages/{request.kind}.md.j2").render(**request.context, link=link)
        subject, _, body = text.strip().partition("\n")
        return OutgoingMessage(
            key=request.key,
            kind=request.kind,
            partnership_id=request.partnership_id,
            audience=[r.email for r in request.audience],
            subject=subject.strip(),
            body=body.strip(),
            link=link,
            context=request.context,
        )

    def enqueue(self, request: SendNotificationInput, created_at: datetime) -> None:
        """Put the message in the outbox; a message already there is left as it is."""
        self._store.insert_once(self.outbox_row(request, created_at))

    def outbox_row(self, request: SendNotificationInput, created_at: datetime) -> NotificationRow:
        message = self._render(request)
        return NotificationRow(
            key=message.key,
            partnership_id=message.partnership_id,
            kind=message.kind,
            audience=", ".join(message.audience),
            subject=message.subject,
            body=message.body,
            notifier=self._notifier.name,
            created_at=created_at,
            context_json=dumps(message.context),
        )

    def deliver(self, key: str) -> bool:
        """Deliver one outbox message unless it already went out. True when this call sent it.

        The attempt is counted before the notifier is called, so a notifier can tell that an
        earlier attempt may have reached the other side (and look before posting again).
        """
        with self._store.writing() as session:
            row = session.get(NotificationRow, key)
            assert row is not None, f"notification {key} is not in the outbox"
            if row.status == "delivered":
                return False
            row.attempts += 1
            session.add(row)
            session.commit()
        # Not inside the write lock: the notifier may take seconds to answer.
        reference = self._notifier.deliver(self._outgoing(row))
        with self._store.writing() as session:
            row.status, row.delivery_ref = "delivered", reference
            row.delivered_at = datetime.now(UTC)
            session.add(row)
            session.commit()
        return True

    def _outgoing(self, row: NotificationRow) -> OutgoingMessage:
        return OutgoingMessage(
            key=row.key,
            kind=row.kind,
            partnership_id=row.partnership_id,
            audience=row.audience.split(", ") if row.audience else [],
            subject=row.subject,
            body=row.body,
            link=f"{self._ui_url}/workflows/{row.partnership_id}",
            context=loads(row.context_json) if row.context_json else {},
        )

    def pending(self, partnership_id: str) -> list[str]:
        """Keys of the partnership's undelivered messages, oldest first."""
        return self._store.pending_notification_keys(partnership_id)

    @activity.defn(name=ActivityName.SEND_NOTIFICATION)
    def send_notification(self, request: SendNotificationInput) -> NotificationReceipt:
        """One message: outbox, then delivery (the workflow's calls before one-record-per-step)."""
        self.enqueue(request, datetime.now(UTC))
        newly_delivered = self.deliver(request.key)
        return NotificationReceipt(key=request.key, notifier=self._notifier.name, newly_delivered=newly_delivered)

    @activity.defn(name=ActivityName.DELIVER_PENDING_NOTIFICATIONS)
    def deliver_pending_notifications(self, partnership_id: str) -> int:
        """Empty the partnership's outbox in order; an error leaves the rest for the retry."""
        sent = 0
        while keys := self.pending(partnership_id):
            for key in keys:
                sent += self.deliver(key)
        return sent
