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
from partnerships.engine.contracts import RECORD_REFUSED, SLUG_TAKEN, ActivityName, StepRecord, StepRecorded
from partnerships.engine.notifier import NOTIFIER_MISCONFIGURED
from partnerships.engine.ports import QueuedMessage, RecordRefused, Records, SlugTaken, TaskTemplates


class StepRecorder:
    def __init__(self, records: Records, tasks: TaskTemplates, messenger: Messenger) -> None:
        self._records = records
        self._tasks = tasks
        self._messenger = messenger

    @activity.defn(name=ActivityName.RECORD_STEP)
    def record_step(self, step: StepRecord) -> StepRecorded:
        # The outbox is claimed in the step's own commit: delivering costs one more, marking them sent.
        recorded, outbox = self._write(step, claim_outbox=step.deliver)
        if step.deliver:
            self._deliver_now(step.partnership_id, outbox, recorded)
        else:
            recorded.undelivered = len(outbox)
        return recorded

    def write(self, step: StepRecord) -> StepRecorded:
        """The step's rows in the store, idempotently; nothing is delivered (a rebuild uses this alone)."""
        return self._write(step, claim_outbox=False)[0]

    def _write(self, step: StepRecord, claim_outbox: bool) -> tuple[StepRecorded, list[QueuedMessage]]:
        batches = {batch.batch_key: self._tasks.tasks_for(batch) for batch in step.new_tasks}
        created_at = datetime.now(UTC)
        messages = []
        for position, message in enumerate(step.notifications):
            if message.task_batch is not None:
                tasks = [task.ref for task in batches.get(message.task_batch, [])]
                if not tasks:
                    continue
                context = {**message.context, "tasks": [t.model_dump(mode="json") for t in tasks]}
                message = message.model_copy(update={"context": context})
            # The outbox delivers oldest first: a step's messages keep the order they were made in.
            messages.extend(self._messenger.compose(message, created_at + timedelta(milliseconds=position)))
        try:
            outbox = self._records.write_step(
                step,
                [task for made in batches.values() for task in made],
                messages,
                wait_at_most=_time_left(),
                claim_outbox=claim_outbox,
            )
        except RecordRefused as error:
            raise ApplicationError(
                f"the store refused the record: {error}", type=RECORD_REFUSED, non_retryable=True
            ) from None
        except SlugTaken as error:
            raise ApplicationError(str(error), type=SLUG_TAKEN, non_retryable=True) from None
        return StepRecorded(tasks=[task.ref for made in batches.values() for task in made]), outbox

    def _deliver_now(self, partnership_id: str, outbox: list[QueuedMessage], recorded: StepRecorded) -> None:
        """One try, in order, stopping at the first failure: what is left waits in the outbox
        for the workflow's durable delivery, so an outage never holds the store write up."""
        try:
            self._messenger.deliver_claimed(outbox)
        except Exception as error:
            # Whatever went wrong, the durable delivery retries it; only a misconfigured
            # notifier is worth telling the workflow about.
            recorded.undelivered = len(self._messenger.pending(partnership_id))
            if isinstance(error, ApplicationError) and error.type == NOTIFIER_MISCONFIGURED:
                recorded.notifier_misconfigured = error.message
            activity.logger.warning("%d notification(s) left in the outbox: %s", recorded.undelivered, error)


def _time_left() -> float | None:
    """Seconds this attempt may still wait for the store, a little short of its deadline: an
    attempt that gives up by itself ends cleanly, while one the worker must cancel keeps a
    thread blocked on the store. None outside an activity (a rebuild)."""
    if not activity.in_activity():
        return None
    info = activity.info()
    deadlines = []
    if info.start_to_close_timeout:
        deadlines.append(info.started_time + info.start_to_close_timeout)
    if info.schedule_to_close_timeout and info.scheduled_time:
        deadlines.append(info.scheduled_time + info.schedule_to_close_timeout)
    if not deadlines:
        return None
    left = (min(deadlines) - datetime.now(UTC)).total_seconds()
    return max(left * 0.8, 0.0)
