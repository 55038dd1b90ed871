"""Record one step of a partnership: one call, however much the step changed.

A step is what the workflow did between two waits: a decision, the tasks it calls for,
the review, the snapshot and the messages. Writing it in one activity keeps a
partnership's history short; the outbox keeps its messages from being lost or doubled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notifications import Messenger
from activities.records import gate_review_row, partnership_row
from activities.tasks import TaskDesk, close_task_rows
from partnerships.contracts import ActivityName, StepRecord, StepRecorded
from partnerships.notify import NOTIFIER_MISCONFIGURED
from partnerships.store import NotificationRow, Store, TaskRow


class StepRecorder:
    def __init__(self, store: Store, tasks: TaskDesk, messenger: Messenger) -> None:
        self._store = store
        self._tasks = tasks
        self._messenger = messenger

    @activity.defn(name=ActivityName.RECORD_STEP)
    def record_step(self, step: StepRecord) -> StepRecorded:
        batches = {batch.batch_key: self._tasks.task_rows(batch) for batch in step.new_tasks}
        created_at = datetime.now(UTC)
        messages = []
        for position, message in enumerate(step.notifications):
            if message.task_batch is not None:
                tasks = [task for task, _ in batches.get(message.task_batch, [])]
                if not tasks:
                    continue
                context = {**message.context, "tasks": [t.model_dump(mode="json") for t in tasks]}
                message = message.model_copy(update={"context": context})
            # The outbox delivers oldest first: a step's messages keep the order they were made in.
            messages.append(self._messenger.outbox_row(message, created_at + timedelta(microseconds=position)))
        # One transaction: a step is in the store whole or not at all, and costs one commit.
        with self._store.writing() as session:
            if step.snapshot is not None:
                session.merge(partnership_row(step.snapshot))
            for review in step.reviews:
                session.merge(gate_review_row(step.partnership_id, review))
            for closure in step.closed_tasks:
                close_task_rows(session, closure)
            # Rows an earlier attempt of this step wrote are kept as they are (a message may be out).
            task_rows = [row for made in batches.values() for _, row in made]
            written_tasks = set(session.exec(select(TaskRow.id).where(col(TaskRow.id).in_([t.id for t in task_rows]))))
            written_messages = set(
                session.exec(select(NotificationRow.key).where(col(NotificationRow.key).in_([m.key for m in messages])))
            )
            session.add_all([t for t in task_rows if t.id not in written_tasks])
            session.add_all([m for m in messages if m.key not in written_messages])
            session.commit()
        recorded = StepRecorded(tasks=[task for made in batches.values() for task, _ in made])
        if step.deliver:
            self._deliver_now(step.partnership_id, recorded)
        else:
            recorded.undelivered = len(self._messenger.pending(step.partnership_id))
        return recorded

    def _deliver_now(self, partnership_id: str, recorded: StepRecorded) -> None:
        """One try, in order, stopping at the first failure: what is left waits in the outbox
        for the workflow's durable delivery, so an outage never holds the store write up."""
        pending = self._messenger.pending(partnership_id)
        for done, key in enumerate(pending):
            try:
                self._messenger.deliver(key)
            except Exception as error:
                # Whatever went wrong, the durable delivery retries it; only a misconfigured
                # notifier is worth telling the workflow about.
                recorded.undelivered = len(pending) - done
                if isinstance(error, ApplicationError) and error.type == NOTIFIER_MISCONFIGURED:
                    recorded.notifier_misconfigured = error.message
                activity.logger.warning("notification %s left in the outbox: %s", key, error)
                return
