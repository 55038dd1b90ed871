"""The step journal: what one step of a partnership leaves in the store, and when it is written.

A step is what the workflow did between two waits. The workflow notes each part of it
here as it happens (a review, tasks, messages, a new status); nothing is written until
the workflow is about to wait again, when `write` records the whole step with one local
activity. Messages the notifier did not take at once wait in the store's outbox; the
`Courier` delivers them, oldest first, with a regular activity retried until it is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from partnerships.domain.lifecycle import GateReview
    from partnerships.domain.views import PartnershipSnapshot
    from partnerships.engine.contracts import (
        RECORD_REFUSED,
        ActivityName,
        ActRecord,
        CloseTasksInput,
        CreateTasksInput,
        SendNotificationInput,
        StepRecord,
        StepRecorded,
    )
    from partnerships.engine.notifier import NOTIFIER_MISCONFIGURED

# Short: a worker that dies mid-activity is only noticed when this runs out.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
# Retried without limit: an outage of the store or the notifier delays the
# partnership, it never ends it.
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=2))
# A step is recorded by a local activity: one marker in the history instead of a
# scheduled, started and completed activity plus the workflow task that follows.
# Room for the store and one try of each message (the Slack client gives up after 10 s).
LOCAL_ACTIVITY_TIMEOUT = timedelta(seconds=30)
# When the store stays out of reach longer than its budget (StartPartnership.local_record_seconds,
# a minute), the record goes on as a regular activity, retried without limit and without
# holding a workflow task open.


class StepJournal:
    def __init__(
        self,
        partnership_id: str,
        chain_id: str,
        partner: str,
        written_snapshot: PartnershipSnapshot | None,
        retry_refused_after: timedelta,
        local_budget: timedelta,
        on_recorded: Callable[[StepRecorded], None],
    ) -> None:
        self._partnership_id = partnership_id
        self._chain_id = chain_id
        self._partner = partner
        self._step = self._new_step()
        self._number = 1
        self._written_through = 0
        # Only what changed is written: the same facts twice leave the read model's row as it is.
        self._snapshot_facts = written_snapshot.facts_digest() if written_snapshot else None
        self._courier = Courier(partnership_id, partner)
        # One write at a time: the retry of a refused step and the next step never overlap.
        self._writing = asyncio.Lock()
        self._retry_refused_after = retry_refused_after
        self._local_budget = local_budget
        self._retrying: asyncio.Task[None] | None = None
        self.refused: str | None = None
        self._on_recorded = on_recorded

    def _new_step(self) -> StepRecord:
        return StepRecord(partnership_id=self._partnership_id, chain_id=self._chain_id)

    def is_empty(self) -> bool:
        return self._step.is_empty()

    # ------------------------------------------------------- noting a step's parts

    def note_snapshot(self, snapshot: PartnershipSnapshot) -> None:
        facts = snapshot.facts_digest()
        if facts != self._snapshot_facts:
            self._step.snapshot, self._snapshot_facts = snapshot, facts

    def note_review(self, review: GateReview) -> None:
        self._step.add_review(review)

    def note_closed_tasks(self, closure: CloseTasksInput) -> None:
        self._step.closed_tasks.append(closure)

    def note_new_tasks(self, request: CreateTasksInput) -> None:
        self._step.add_tasks(request)

    def note_message(self, message: SendNotificationInput) -> None:
        self._step.add_message(message)

    def note_act(self, act: ActRecord) -> None:
        self._step.acts.append(act)

    # ------------------------------------------------------------------ writing

    async def write(self) -> None:
        """Record the step noted so far in one store transaction, then hand the result to `on_recorded`."""
        async with self._writing:
            await self._write()

    async def _write(self) -> None:
        if self._step.is_empty():
            return
        step, self._step = self._step, self._new_step()
        number, self._number = self._number, self._number + 1
        # Messages go out oldest first: while older ones wait in the outbox, newer ones join them.
        step.deliver = not self._courier.busy
        try:
            recorded: StepRecorded = await _local_first(
                ActivityName.RECORD_STEP,
                step,
                budget=self._local_budget,
                summary=f"Record {self._partner}: {_describe(step)}",
                result_type=StepRecorded,
            )
        except (ActivityError, ApplicationError) as error:
            # A local activity's own failure arrives as it was raised; a regular one's inside an ActivityError.
            cause = error.cause if isinstance(error, ActivityError) else error
            if not (isinstance(cause, ApplicationError) and cause.type == RECORD_REFUSED):
                raise
            self._keep_for_retry(step, cause.message)
            return
        self._written_through = number
        if self.refused is not None:
            workflow.logger.warning("the store took %s's record again", self._partner)
            self.refused = None
        if recorded.notifier_misconfigured:
            # Retrying cannot help: the messages stay in the outbox until a person fixes the
            # setting, and the error is in the history and the logs. The partnership goes on.
            workflow.logger.error("notifications not delivered: %s", recorded.notifier_misconfigured)
        elif recorded.undelivered:
            self._courier.deliver_later()
        self._on_recorded(recorded)

    def _keep_for_retry(self, step: StepRecord, reason: str) -> None:
        """A step the store refused for good: kept, in order, ahead of what comes next, and tried
        again on a timer, so the partnership goes on and its record catches up once fixed."""
        workflow.logger.error("the store refused %s's record: %s", self._partner, reason)
        self.refused = reason
        self._step = step.followed_by(self._step)
        if self._retrying is None:
            self._retrying = asyncio.create_task(self._retry_refused())

    async def _retry_refused(self) -> None:
        try:
            while self.refused is not None:
                await workflow.sleep(self._retry_refused_after)
                await self.write()
        finally:
            self._retrying = None

    async def until_noted_parts_are_written(self) -> None:
        """Wait until the step noted so far is in the store (an Update answers only then)."""
        number = self._number
        # While the store refuses the record the answer does not wait for it: the act is in
        # the workflow's state, and the record catches up once the cause is fixed.
        await workflow.wait_condition(lambda: self._written_through >= number or self.refused is not None)

    async def delivered(self) -> None:
        """Wait until the record is written and the courier has emptied the outbox (or given up
        on a misconfigured notifier)."""
        if self._retrying is not None:
            await self._retrying
        await self._courier.done()


class Courier:
    """Delivers the messages that wait in the outbox, retried until the notifier is back."""

    def __init__(self, partnership_id: str, partner: str) -> None:
        self._partnership_id = partnership_id
        self._partner = partner
        self._task: asyncio.Task[None] | None = None
        self._again = False

    @property
    def busy(self) -> bool:
        return self._task is not None

    def deliver_later(self) -> None:
        self._again = True
        if self._task is None:
            self._task = asyncio.create_task(self._deliver())

    async def done(self) -> None:
        if self._task is not None:
            await self._task

    async def _deliver(self) -> None:
        try:
            while self._again:
                self._again = False
                try:
                    await _activity(
                        ActivityName.DELIVER_PENDING_NOTIFICATIONS,
                        self._partnership_id,
                        summary=f"Deliver the messages about {self._partner} that wait in the outbox",
                    )
                except ActivityError as error:
                    cause = error.cause
                    if not (isinstance(cause, ApplicationError) and cause.type == NOTIFIER_MISCONFIGURED):
                        raise
                    workflow.logger.error("notifications not delivered: %s", cause.message)
                    return
        finally:
            self._task = None


def _describe(step: StepRecord) -> str:
    """The activity's summary in the Web UI: what this step records."""
    parts = []
    if step.snapshot is not None:
        parts.append(f"status {step.snapshot.phase}/{step.snapshot.step}")
    parts += [f"{r.label} ({r.decision.outcome.value if r.decision else 'open'})" for r in step.reviews]
    parts += [f"{c.status} {len(c.task_ids)} task(s)" for c in step.closed_tasks]
    parts += [f"{b.kind.value} tasks" for b in step.new_tasks]
    if step.notifications:
        parts.append(f"{len(step.notifications)} message(s)")
    return ", ".join(parts)


def _local_retry(budget: timedelta) -> RetryPolicy:
    """The regular retry policy, cut to the attempts whose backoffs fit in the budget.

    The worker does not stop retrying a failing local activity when its schedule-to-close
    timeout passes, so the number of attempts is what ends the local phase."""
    longest = ACTIVITY_RETRY.maximum_interval.total_seconds() if ACTIVITY_RETRY.maximum_interval else float("inf")
    waited, backoff, attempts = 0.0, ACTIVITY_RETRY.initial_interval.total_seconds(), 1
    while waited + backoff <= budget.total_seconds():
        waited, attempts = waited + backoff, attempts + 1
        backoff = min(backoff * ACTIVITY_RETRY.backoff_coefficient, longest)
    return RetryPolicy(
        initial_interval=ACTIVITY_RETRY.initial_interval,
        backoff_coefficient=ACTIVITY_RETRY.backoff_coefficient,
        maximum_interval=ACTIVITY_RETRY.maximum_interval,
        maximum_attempts=attempts,
    )


async def _local_first(name: str, arg: Any, *, budget: timedelta, summary: str, result_type: type | None = None) -> Any:
    try:
        return await workflow.execute_local_activity(
            name,
            arg,
            start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
            # Each attempt also gives up waiting for the store by this deadline (activities/steps.py).
            schedule_to_close_timeout=budget,
            retry_policy=_local_retry(budget),
            summary=summary[:200],
            result_type=result_type,
        )
    except FailureError as error:
        # A local activity's failure arrives as raised (an ApplicationError, or a TimeoutError once
        # its budget is spent); only a non-retryable one, or a cancellation, is final.
        cause = error.cause if isinstance(error, ActivityError) else error
        if isinstance(cause, CancelledError) or (isinstance(cause, ApplicationError) and cause.non_retryable):
            raise
        workflow.logger.warning("%s kept failing (%s): retrying it as a regular activity", name, cause)
        return await _activity(name, arg, summary=summary, result_type=result_type)


async def _activity(name: str, arg: Any, *, summary: str, result_type: type | None = None) -> Any:
    return await workflow.execute_activity(
        name,
        arg,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=ACTIVITY_RETRY,
        summary=summary[:200],
        result_type=result_type,
    )
