"""Record one step of a partnership: one call, however much the step changed.

A step is what the workflow did between two waits: a decision, the tasks it calls for,
the review, the snapshot and the messages. Writing it in one activity keeps a
partnership's history short; the outbox keeps its messages from being lost or doubled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notifications import Messenger
from activities.records import RecordKeeping
from activities.tasks import TaskDesk
from partnerships.contracts import (
    ActivityName,
    RecordGateReviewInput,
    SavePartnershipInput,
    StepRecord,
    StepRecorded,
)
from partnerships.domain.lifecycle import TaskRef
from partnerships.notify import NOTIFIER_MISCONFIGURED


class StepRecorder:
    def __init__(self, records: RecordKeeping, tasks: TaskDesk, messenger: Messenger) -> None:
        self._records = records
        self._tasks = tasks
        self._messenger = messenger

    @activity.defn(name=ActivityName.RECORD_STEP)
    def record_step(self, step: StepRecord) -> StepRecorded:
        if step.snapshot is not None:
            self._records.save_partnership(SavePartnershipInput(snapshot=step.snapshot))
        for review in step.reviews:
            self._records.record_gate_review(RecordGateReviewInput(partnership_id=step.partnership_id, review=review))
        for closure in step.closed_tasks:
            self._tasks.close_tasks(closure)
        batches: dict[str, list[TaskRef]] = {}
        for batch in step.new_tasks:
            batches[batch.batch_key] = self._tasks.create_tasks(batch).tasks
        created_at = datetime.now(UTC)
        for position, message in enumerate(step.notifications):
            if message.task_batch is not None:
                tasks = batches.get(message.task_batch)
                if not tasks:
                    continue
                context = {**message.context, "tasks": [t.model_dump(mode="json") for t in tasks]}
                message = message.model_copy(update={"context": context})
            # The outbox delivers oldest first: a step's messages keep the order they were made in.
            self._messenger.enqueue(message, created_at + timedelta(microseconds=position))
        recorded = StepRecorded(tasks=[task for tasks in batches.values() for task in tasks])
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
