"""Send notifications through the configured notifier, once each."""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment
from temporalio import activity

from partnerships.contracts import ActivityName, NotificationReceipt, SendNotificationInput
from partnerships.notify import Notifier, OutgoingMessage
from partnerships.store import NotificationRow, Store


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

    @activity.defn(name=ActivityName.SEND_NOTIFICATION)
    def send_notification(self, request: SendNotificationInput) -> NotificationReceipt:
        message = self._render(request)
        # The row is the outbox: written before delivery, so a retry finds it and a
        # delivered message is never sent again.
        self._store.insert_once(
            NotificationRow(
                key=message.key,
                partnership_id=message.partnership_id,
                kind=message.kind,
                audience=", ".join(message.audience),
                subject=message.subject,
                body=message.body,
                notifier=self._notifier.name,
                created_at=datetime.now(UTC),
            )
        )
        with self._store.session() as session:
            row = session.get(NotificationRow, message.key)
            assert row is not None
            if row.status == "delivered":
                return NotificationReceipt(key=message.key, notifier=row.notifier, newly_delivered=False)
            row.attempts += 1
            session.add(row)
            session.commit()
            reference = self._notifier.deliver(message)
            row.status, row.delivery_ref = "delivered", reference
            row.delivered_at = datetime.now(UTC)
            session.add(row)
            session.commit()
        return NotificationReceipt(key=message.key, notifier=self._notifier.name, newly_delivered=True)
