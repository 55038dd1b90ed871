"""One durable workflow per partnership: charter, Crawl, Walk, Run, and the way out.

The rules live in `partnerships.domain`; this file only waits, asks activities to
act, and tells the world. No I/O, no clock but `workflow.now()`, no randomness.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from partnerships import visibility
    from partnerships.contracts import (
        Acknowledged,
        ActivityName,
        CloseTasksInput,
        CreatedTasks,
        CreateTasksInput,
        DecisionAccepted,
        PartnershipOutcome,
        PartnershipSnapshot,
        PartnershipStatus,
        Recipient,
        RecordGateReviewInput,
        SavePartnershipInput,
        SendNotificationInput,
        StartPartnership,
        StepRecord,
        StepRecorded,
        TaskContext,
    )
    from partnerships.domain.charter import Person
    from partnerships.domain.lifecycle import (
        CompleteTaskRequest,
        DecisionRequest,
        ExitRequest,
        GateReview,
        Partnership,
        Phase,
        PilotResultRequest,
        RecommitRequest,
        ScorecardRequest,
        SignRequest,
        Step,
        TaskKind,
        TaskRef,
        Transition,
        WalkResultRequest,
    )
    from partnerships.domain.vocabulary import WORKFLOW_TYPE
    from partnerships.notify import NOTIFIER_MISCONFIGURED

# Short: a worker that dies mid-activity is only noticed when this runs out.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
# Retried without limit: an outage of the store or the notifier delays the
# partnership, it never ends it.
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=2))
# A step is recorded by a local activity: one marker in the history instead of a
# scheduled, started and completed activity plus the workflow task that follows.
# Room for the store and one try of each message (the Slack client gives up after 10 s).
LOCAL_ACTIVITY_TIMEOUT = timedelta(seconds=30)
# When the store stays out of reach this long, the record goes on as a regular activity,
# retried without limit and without holding a workflow task open.
LOCAL_ACTIVITY_BUDGET = timedelta(minutes=1)

# Patch ids: each names one change to the workflow's commands (see tests/test_replay.py).
OVERRIDES_REACH_ESCALATION = "overrides-reach-escalation-path"
NOTIFICATIONS_IN_BACKGROUND = "notifications-in-background"
MOOT_TASKS_CANCELLED = "moot-tasks-cancelled"
# One local activity records each step, deadlines keep their timer while people act,
# and messages that cannot go out at once wait in the store's outbox.
ONE_RECORD_PER_STEP = "one-record-per-step"


def _reject(problems: list[str]) -> None:
    """Validators raise to refuse an Update: nothing lands in the history."""
    if problems:
        raise ValueError("\n".join(problems))


@workflow.defn(name=WORKFLOW_TYPE)
class PartnershipWorkflow:
    @workflow.init
    def __init__(self, start: StartPartnership) -> None:
        if start.resume is not None:
            self._partnership = start.resume
        else:
            assert start.charter is not None, "a new partnership needs its charter"
            self._partnership = Partnership.begin(start.charter, start.time_scale, workflow.now())
        self._transitions: list[Transition] = []
        self._deliveries: list[asyncio.Task[None]] = []
        self._fired: set[str] = set()
        self._search_attributes: list[str] = []
        # Decided once per partnership (see run): histories from before the change replay
        # the calls they were recorded with.
        self._records_steps = start.records_steps
        self._run_history_limit = start.run_history_limit
        self._step = self._new_step()
        self._step_number = 1
        self._recorded_through = 0
        self._saved_snapshot: dict[str, Any] | None = None
        self._latest_summary = ""
        self._deadline: tuple[datetime, asyncio.Task[None]] | None = None
        self._courier: asyncio.Task[None] | None = None
        self._courier_again = False
        if start.resume is not None and self._records_steps:
            # The previous run left both as they stand now: nothing to upsert or save again.
            self._search_attributes = self._fingerprint()
            self._saved_snapshot = self._snapshot_facts(self._snapshot())

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, start: StartPartnership) -> PartnershipOutcome:
        p = self._partnership
        if not self._records_steps:
            self._records_steps = workflow.patched(ONE_RECORD_PER_STEP)
        if start.resume is None:
            await self._publish("partnership started: waiting for both sides to sign the charter")
            await self._notify("charter-ready", self._owners(), key=f"{p.workflow_id}:charter-ready")
        while not p.closed:
            if p.step in (Step.SIGNING, Step.RECOMMITMENT):
                await self._collect_signatures()
            elif p.step is Step.UNDERWAY:
                await self._let_period_run()
            elif p.step is Step.GATE_REVIEW:
                await self._await_decision()
            elif p.step is Step.WINDING_DOWN:
                await self._wind_down()
            continued_in_run = await self._carry_out_transitions()
            if continued_in_run and self._time_to_continue_as_new() and await self._quiet():
                workflow.continue_as_new(
                    StartPartnership(
                        resume=p,
                        time_scale=p.time_scale,
                        records_steps=self._records_steps,
                        run_history_limit=self._run_history_limit,
                    ),
                    search_attributes=visibility.search_attributes(p),
                )
        await self._quiet()
        return PartnershipOutcome(
            workflow_id=p.workflow_id,
            phase=p.phase.value,
            end_reason=p.end_reason,
            quarters_in_run=p.quarter,
        )

    async def _quiet(self) -> bool:
        """Before the run ends or continues as new: everything recorded, every message out,
        every Update answered. False when people acted meanwhile: the run goes on for now."""
        if not self._records_steps:
            await self._deliveries_done()
            await workflow.wait_condition(workflow.all_handlers_finished)
            return True
        while True:
            if self._partnership.closed:
                self._transitions.clear()  # nothing is left to do about them
            await self._deliveries_done()
            # An Update accepted while the last step was recorded (a task done) waits for its
            # own step: record it rather than wait for handlers that wait for us.
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() or bool(self._transitions) or not self._step.is_empty()
            )
            if self._transitions:
                return False
            if self._step.is_empty() and workflow.all_handlers_finished():
                return True

    def _time_to_continue_as_new(self) -> bool:
        # Between quarters, once the run's history is long enough: a years-long partnership's
        # history stays short and flat, and a short one never pays for a new run.
        p = self._partnership
        if not (p.phase is Phase.RUN and p.step is Step.UNDERWAY and not self._transitions):
            return False
        if not self._records_steps:
            return True
        info = workflow.info()
        return info.get_current_history_length() >= self._run_history_limit or info.is_continue_as_new_suggested()

    # ------------------------------------------------------------- stages

    async def _collect_signatures(self) -> None:
        p = self._partnership
        step = p.step
        reminders, escalate_at, expire_at = p.signing_deadlines()
        what = "charter" if step is Step.SIGNING else "recommitment"
        schedule: list[tuple[datetime, str]] = [(at, f"reminder-{i + 1}") for i, at in enumerate(reminders)]
        schedule += [(escalate_at, "escalation"), (expire_at, "expiry")]
        for at, action in schedule:
            key = f"{p.workflow_id}:{what}-{p.review_count}-{action}"
            if key in self._fired:
                continue
            if await self._wait_until(at, lambda: p.step is not step):
                return
            self._fired.add(key)
            unsigned = self._unsigned_owners()
            if action == "expiry":
                self._transitions.append(p.apply_signing_expiry(workflow.now()))
                return
            if action == "escalation":
                await self._notify(
                    f"{what}-escalation",
                    self._escalation_path(),
                    key=key,
                    unsigned=[r.name for r in unsigned],
                )
            else:
                await self._notify(f"{what}-reminder", unsigned, key=key)

    async def _let_period_run(self) -> None:
        p = self._partnership
        if await self._wait_until(p.phase_ends_at, lambda: False):
            return
        review = p.open_review(workflow.now())
        if p.phase is Phase.RUN:
            await self._issue_tasks(TaskKind.QBR)
        await self._record_review(review, f"Record the opening of the {review.label} for {p.charter.partner.name}")
        await self._notify(
            "review-opened",
            self._reviewers(),
            key=f"{review.id}:opened",
            review=self._review_context(review),
        )
        await self._publish(f"{review.label} opened")

    async def _await_decision(self) -> None:
        p = self._partnership
        review = p.review
        assert review is not None
        schedule = [
            (review.remind_at, "reminder"),
            (review.escalate_at, "escalation"),
            (review.policy_at, "policy"),
        ]
        for at, action in schedule:
            key = f"{review.id}:{action}"
            if key in self._fired:
                continue
            if await self._wait_until(at, lambda: p.review is not review):
                return
            self._fired.add(key)
            if action == "policy":
                self._transitions.append(p.apply_policy_decision(workflow.now()))
                return
            audience = self._reviewers() if action == "reminder" else self._escalation_path()
            await self._notify(f"review-{action}", audience, key=key, review=self._review_context(review))

    async def _wind_down(self) -> None:
        p = self._partnership
        await self._wait_until(None, p.wind_down_finished)
        if self._transitions or not p.wind_down_finished():
            return
        p.close()
        await self._publish("every wind-down task is done: the partnership is closed")

    async def _wait_until(self, deadline: datetime | None, condition: Callable[[], bool]) -> bool:
        """Wait for a person's action or the condition; False when the deadline passed first."""
        await self._record_step()

        def woken() -> bool:
            return bool(self._transitions) or condition()

        if self._records_steps:
            return await self._wait_keeping_the_timer(deadline, woken)
        if deadline is None:
            await workflow.wait_condition(woken)
            return True
        timeout = deadline - workflow.now()
        if timeout <= timedelta(0):
            return woken()
        try:
            await workflow.wait_condition(woken, timeout=timeout)
        except TimeoutError:
            return woken()
        return True

    async def _wait_keeping_the_timer(self, deadline: datetime | None, woken: Callable[[], bool]) -> bool:
        # People act many times before one deadline (pilot results, task completions): the
        # same timer keeps running across those wake-ups instead of being cancelled and
        # started again each time. A deadline that is no longer waited for is cancelled.
        if self._deadline is not None and (deadline is None or self._deadline[0] != deadline):
            self._deadline[1].cancel()
            self._deadline = None
        if deadline is None:
            await workflow.wait_condition(woken)
            return True
        if deadline <= workflow.now():
            return woken()
        if self._deadline is None:
            self._deadline = (deadline, asyncio.create_task(workflow.sleep(deadline - workflow.now())))
        timer = self._deadline[1]
        await workflow.wait_condition(lambda: woken() or timer.done())
        if timer.done():
            self._deadline = None
        return woken()

    # -------------------------------------------------------- side effects

    async def _carry_out_transitions(self) -> bool:
        """Do what the last state changes call for. True when a new Run quarter began."""
        p = self._partnership
        new_quarter = False
        while self._transitions:
            transition = self._transitions.pop(0)
            if transition.decided_review is not None:
                review = transition.decided_review
                await self._record_review(review, f"Record the {review.label} decision for {p.charter.partner.name}")
                decision = review.decision
                assert decision is not None
                await self._notify(
                    "decision",
                    [*self._reviewers(), *self._owners()],
                    key=f"{review.id}:decided",
                    review=self._review_context(review),
                    summary=transition.summary,
                )
                # Added after partnerships were already running: `patched` keeps their
                # recorded histories replaying while new decisions take the new path.
                if decision.overrides_failing_gate and (
                    self._records_steps or workflow.patched(OVERRIDES_REACH_ESCALATION)
                ):
                    await self._notify(
                        "override",
                        self._escalation_path(),
                        key=f"{review.id}:override",
                        review=self._review_context(review),
                        summary=transition.summary,
                    )
            elif p.review is not None:
                # Evidence arrived during a review: keep the stored review current.
                await self._record_review(
                    p.review, f"Record new evidence in the {p.review.label} for {p.charter.partner.name}"
                )
            if transition.cancelled_tasks:
                await self._close_tasks(
                    CloseTasksInput(
                        task_ids=transition.cancelled_tasks,
                        status="cancelled",
                        by="engine",
                        at=workflow.now(),
                    ),
                    summary=f"Cancel {len(transition.cancelled_tasks)} open task(s) of {p.charter.partner.name}",
                )
            if transition.tasks is not None:
                await self._issue_tasks(transition.tasks, reason=p.end_reason)
            if p.ended and transition.tasks is not None:
                await self._notify(
                    "partnership-ended",
                    [*self._owners(), *self._reviewers()],
                    key=f"{p.workflow_id}:ended",
                    summary=transition.summary,
                )
            await self._publish(transition.summary)
            new_quarter = new_quarter or transition.new_quarter
        return new_quarter

    async def _issue_tasks(self, kind: TaskKind, reason: str | None = None) -> None:
        p = self._partnership
        charter = p.charter
        owners = charter.governance.decision_owners
        request = CreateTasksInput(
            batch_key=p.batch_key(kind),
            kind=kind,
            partnership_id=p.workflow_id,
            context=TaskContext(
                partner=charter.partner.name,
                slug=charter.slug,
                phase_label=p.phase_label(),
                pilot_customers=charter.timeline.crawl.pilot_customers,
                invited_customers=charter.timeline.walk.invited_customers,
                metric=charter.measurement.metric.name,
                quarter=p.quarter,
                owners={"us": owners.us.email, "partner": owners.partner.email},
                reason=reason,
            ),
            created_at=workflow.now(),
            time_scale=p.time_scale,
        )
        if self._records_steps:
            # Created with the rest of the step; the message lists whatever the templates made.
            self._step.new_tasks.append(request)
            await self._notify(
                "tasks",
                self._owners(),
                key=f"{request.batch_key}:sent",
                task_kind=kind.value,
                task_batch=request.batch_key,
            )
            return
        created = await self._activity(
            ActivityName.CREATE_TASKS,
            request,
            summary=f"Create {kind.value.replace('-', ' ')} tasks for {charter.partner.name}",
            result_type=CreatedTasks,
        )
        tasks: list[TaskRef] = created.tasks
        moot = p.add_tasks(tasks)
        if moot and workflow.patched(MOOT_TASKS_CANCELLED):
            await self._close_moot_tasks(moot)
            return
        await self._notify(
            "tasks",
            self._owners(),
            key=f"{p.batch_key(kind)}:sent",
            task_kind=kind.value,
            tasks=[t.model_dump(mode="json") for t in tasks],
        )

    async def _notify(
        self, kind: str, audience: list[Recipient], *, key: str, task_batch: str | None = None, **context: Any
    ) -> None:
        """Send a notification. It never holds the partnership up: an outage of the
        notifier delays the message, not the lifecycle."""
        p = self._partnership
        request = SendNotificationInput(
            key=key,
            kind=kind,
            partnership_id=p.workflow_id,
            audience=audience,
            context={**self._base_context(), **context},
            sent_at=workflow.now(),
            task_batch=task_batch,
        )
        if self._records_steps:
            self._step.notifications.append(request)
            return
        summary = (
            f"Send {kind.replace('-', ' ')} about {p.charter.partner.name} to {', '.join(r.name for r in audience)}"
        )
        if workflow.patched(NOTIFICATIONS_IN_BACKGROUND):
            # One after another, in the order the partnership produced them.
            previous = self._deliveries[-1] if self._deliveries else None
            self._deliveries = [d for d in self._deliveries if not d.done()]
            self._deliveries.append(asyncio.create_task(self._deliver(request, summary, after=previous)))
        else:
            await self._deliver(request, summary)

    async def _deliver(
        self, request: SendNotificationInput, summary: str, after: asyncio.Task[None] | None = None
    ) -> None:
        if after is not None:
            await after
        try:
            await self._activity(ActivityName.SEND_NOTIFICATION, request, summary=summary)
        except ActivityError as error:
            # Outages are retried forever inside the activity; only a misconfigured notifier
            # (bad token or channel) fails it. That must not end a partnership: the message
            # stays pending in the store and the error is in the history and the logs.
            cause = error.cause
            if not (isinstance(cause, ApplicationError) and cause.type == NOTIFIER_MISCONFIGURED):
                raise
            workflow.logger.error("notification %s not delivered: %s", request.key, cause.message)

    async def _deliveries_done(self) -> None:
        # Before this run ends or continues as new, every message it started must be out.
        if self._records_steps:
            while not self._step.is_empty():
                await self._record_step()
            if self._courier is not None:
                await self._courier
            return
        await asyncio.gather(*self._deliveries)

    async def _record_review(self, review: GateReview, summary: str) -> None:
        if self._records_steps:
            self._step.reviews = [r for r in self._step.reviews if r.id != review.id] + [review]
            return
        await self._activity(
            ActivityName.RECORD_GATE_REVIEW,
            RecordGateReviewInput(partnership_id=self._partnership.workflow_id, review=review),
            summary=summary,
        )

    async def _close_tasks(self, closure: CloseTasksInput, summary: str) -> None:
        if self._records_steps:
            self._step.closed_tasks.append(closure)
            return
        await self._activity(ActivityName.CLOSE_TASKS, closure, summary=summary)

    async def _close_moot_tasks(self, moot: list[TaskRef]) -> None:
        # The partnership ended while these were being created: nobody should do them.
        await self._close_tasks(
            CloseTasksInput(task_ids=[t.id for t in moot], status="cancelled", by="engine", at=workflow.now()),
            summary=f"Cancel {len(moot)} task(s) of {self._partnership.charter.partner.name} made moot by its end",
        )

    def _new_step(self) -> StepRecord:
        return StepRecord(partnership_id=self._partnership.workflow_id)

    async def _record_step(self) -> None:
        """Write what the workflow did since it last waited: one call, however much it was."""
        if not self._records_steps or self._step.is_empty():
            return
        p = self._partnership
        step, self._step = self._step, self._new_step()
        number, self._step_number = self._step_number, self._step_number + 1
        # Messages go out oldest first: while older ones wait in the outbox, newer ones join them.
        step.deliver = self._courier is None
        recorded: StepRecorded = await self._local_first(
            ActivityName.RECORD_STEP,
            step,
            summary=f"Record {p.charter.partner.name}: {self._step_summary(step)}",
            result_type=StepRecorded,
        )
        self._recorded_through = number
        if recorded.tasks:
            moot = p.add_tasks(recorded.tasks)
            if moot:
                await self._close_moot_tasks(moot)
            workflow.set_current_details(self._details(self._latest_summary))
        if recorded.notifier_misconfigured:
            # Retrying cannot help: the messages stay in the outbox until a person fixes the
            # setting, and the error is in the history and the logs. The partnership goes on.
            workflow.logger.error("notifications not delivered: %s", recorded.notifier_misconfigured)
        elif recorded.undelivered:
            self._deliver_later()

    @staticmethod
    def _step_summary(step: StepRecord) -> str:
        parts = []
        if step.snapshot is not None:
            parts.append(f"status {step.snapshot.phase}/{step.snapshot.step}")
        parts += [f"{r.label} ({r.decision.outcome.value if r.decision else 'open'})" for r in step.reviews]
        parts += [f"{c.status} {len(c.task_ids)} task(s)" for c in step.closed_tasks]
        parts += [f"{b.kind.value} tasks" for b in step.new_tasks]
        if step.notifications:
            parts.append(f"{len(step.notifications)} message(s)")
        return ", ".join(parts)

    def _deliver_later(self) -> None:
        """Deliver from the outbox with a regular activity, retried until the notifier is back."""
        self._courier_again = True
        if self._courier is None:
            self._courier = asyncio.create_task(self._run_courier())

    async def _run_courier(self) -> None:
        p = self._partnership
        try:
            while self._courier_again:
                self._courier_again = False
                try:
                    await self._activity(
                        ActivityName.DELIVER_PENDING_NOTIFICATIONS,
                        p.workflow_id,
                        summary=f"Deliver the messages about {p.charter.partner.name} that wait in the outbox",
                    )
                except ActivityError as error:
                    cause = error.cause
                    if not (isinstance(cause, ApplicationError) and cause.type == NOTIFIER_MISCONFIGURED):
                        raise
                    workflow.logger.error("notifications not delivered: %s", cause.message)
                    return
        finally:
            self._courier = None

    async def _publish(self, summary: str) -> None:
        """Make the current state visible: search attributes, Web UI details, read model."""
        p = self._partnership
        fingerprint = self._fingerprint()
        if fingerprint != self._search_attributes:
            workflow.upsert_search_attributes(visibility.search_attribute_updates(p))
            self._search_attributes = fingerprint
        workflow.set_current_details(self._details(summary))
        self._latest_summary = summary
        snapshot = self._snapshot()
        if self._records_steps:
            # Only what changed is written: evidence alone leaves the read model's row as it is.
            facts = self._snapshot_facts(snapshot)
            if facts != self._saved_snapshot:
                self._step.snapshot, self._saved_snapshot = snapshot, facts
            return
        await self._activity(
            ActivityName.SAVE_PARTNERSHIP,
            SavePartnershipInput(snapshot=snapshot),
            summary=f"Save {p.charter.partner.name}'s status: {summary}",
        )

    def _fingerprint(self) -> list[str]:
        return [repr(u) for u in visibility.search_attribute_updates(self._partnership)]

    @staticmethod
    def _snapshot_facts(snapshot: PartnershipSnapshot) -> dict[str, Any]:
        return snapshot.model_dump(exclude={"updated_at"})

    def _snapshot(self) -> PartnershipSnapshot:
        p = self._partnership
        last = p.reviews[-1] if p.reviews else None
        rag = p.scorecard.rag if p.scorecard else (p.rag_history[-1] if p.rag_history else None)
        return PartnershipSnapshot(
            id=p.workflow_id,
            slug=p.charter.slug,
            partner=p.charter.partner.name,
            tier=int(p.charter.tier),
            leverage=p.charter.leverage_strength.value,
            phase=p.phase.value,
            step=p.step.value,
            awaiting=p.awaiting(),
            last_gate_outcome=None
            if last is None or last.decision is None
            else f"{last.gate.value}:{last.decision.outcome.value}",
            rag=None if rag is None else rag.value,
            end_reason=p.end_reason,
            started_at=p.started_at,
            phase_started_at=p.phase_started_at,
            updated_at=workflow.now(),
        )

    async def _local_first(self, name: str, arg: Any, *, summary: str, result_type: type | None = None) -> Any:
        try:
            return await workflow.execute_local_activity(
                name,
                arg,
                start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=LOCAL_ACTIVITY_BUDGET,
                retry_policy=ACTIVITY_RETRY,
                summary=summary[:200],
                result_type=result_type,
            )
        except ActivityError as error:
            workflow.logger.warning("%s kept failing (%s): retrying it as a regular activity", name, error.cause)
            return await self._activity(name, arg, summary=summary, result_type=result_type)

    async def _activity(self, name: str, arg: Any, *, summary: str, result_type: type | None = None) -> Any:
        return await workflow.execute_activity(
            name,
            arg,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            summary=summary[:200],
            result_type=result_type,
        )

    # ------------------------------------------------------------ helpers

    def _details(self, summary: str) -> str:
        p = self._partnership
        charter = p.charter
        lines = [
            f"## {charter.partner.name} — {p.phase_label()} ({p.step.value})",
            "",
            f"**Tier** {int(charter.tier)} · **Leverage** {charter.leverage_strength.value} · "
            f"**Metric** {charter.measurement.metric.name}",
            "",
            f"**Latest:** {summary}",
            "",
            f"**Awaiting:** {p.awaiting()}",
        ]
        evaluation = p.review.evaluation if p.review else None
        if evaluation is not None:
            lines += ["", "| criterion | measured | threshold | |", "|---|---|---|---|"]
            lines += [
                f"| {c.key} | {c.measured or 'not recorded'} | {c.threshold} | {'✅' if c.passed else '❌'} |"
                for c in evaluation.criteria
            ]
            lines.append(f"\n**Recommendation:** {evaluation.recommendation.value} — {evaluation.rationale}")
        if p.open_tasks:
            lines += ["", f"**Open tasks:** {len(p.open_tasks)}"]
        return "\n".join(lines)

    def _base_context(self) -> dict[str, Any]:
        p = self._partnership
        return {
            "partner": p.charter.partner.name,
            "slug": p.charter.slug,
            "tier": int(p.charter.tier),
            "phase": p.phase.value,
            "phase_label": p.phase_label(),
            "awaiting": p.awaiting(),
            "slack_channel": p.charter.governance.slack_channel,
        }

    @staticmethod
    def _review_context(review: GateReview) -> dict[str, Any]:
        return review.model_dump(mode="json", exclude={"evidence"})

    @staticmethod
    def _recipients(people: list[Person]) -> list[Recipient]:
        return [Recipient(name=p.name, email=p.email, slack_user_id=p.slack_user_id) for p in people]

    def _owners(self) -> list[Recipient]:
        owners = self._partnership.charter.governance.decision_owners
        return self._recipients([owners.us, owners.partner])

    def _unsigned_owners(self) -> list[Recipient]:
        owners = self._partnership.charter.governance.decision_owners
        by_side = {"us": owners.us, "partner": owners.partner}
        return self._recipients([by_side[side.value] for side in self._partnership.unsigned_sides()])

    def _reviewers(self) -> list[Recipient]:
        return self._recipients(self._partnership.charter.governance.reviewers)

    def _escalation_path(self) -> list[Recipient]:
        return self._recipients(self._partnership.charter.governance.escalation_path)

    def _accept(self, transition: Transition | None, summary: str) -> Acknowledged:
        p = self._partnership
        self._transitions.append(transition or Transition(summary=summary))
        return Acknowledged(
            summary=transition.summary if transition else summary,
            phase=p.phase.value,
            step=p.step.value,
        )

    # ------------------------------------------------------------ updates

    @workflow.update
    def sign_charter(self, request: SignRequest) -> Acknowledged:
        transition = self._partnership.apply_signature(request, workflow.now())
        return self._accept(transition, f"{self._partnership.signatures[-1].name} signed the charter")

    @sign_charter.validator
    def _validate_sign_charter(self, request: SignRequest) -> None:
        _reject(self._partnership.problems_signing(request))

    @workflow.update
    def recommit(self, request: RecommitRequest) -> Acknowledged:
        transition = self._partnership.apply_recommitment(request, workflow.now())
        return self._accept(transition, f"{self._partnership.recommitments[-1].name} re-committed to Run")

    @recommit.validator
    def _validate_recommit(self, request: RecommitRequest) -> None:
        _reject(self._partnership.problems_recommitting(request))

    @workflow.update
    def record_pilot_results(self, request: PilotResultRequest) -> Acknowledged:
        self._partnership.apply_pilot_result(request)
        return self._accept(None, "pilot results recorded")

    @record_pilot_results.validator
    def _validate_pilot_results(self, request: PilotResultRequest) -> None:
        _reject(self._partnership.problems_recording_pilot(request))

    @workflow.update
    def record_walk_results(self, request: WalkResultRequest) -> Acknowledged:
        self._partnership.apply_walk_result(request)
        return self._accept(None, "Walk results recorded")

    @record_walk_results.validator
    def _validate_walk_results(self, request: WalkResultRequest) -> None:
        _reject(self._partnership.problems_recording_walk(request))

    @workflow.update
    def record_scorecard(self, request: ScorecardRequest) -> Acknowledged:
        self._partnership.apply_scorecard(request)
        return self._accept(None, f"quarter {self._partnership.quarter} scorecard recorded")

    @record_scorecard.validator
    def _validate_scorecard(self, request: ScorecardRequest) -> None:
        _reject(self._partnership.problems_recording_scorecard(request))

    @workflow.update
    def decide(self, request: DecisionRequest) -> DecisionAccepted:
        p = self._partnership
        assert p.review is not None
        review_id = p.review.id
        transition = p.apply_decision(request, workflow.now())
        self._transitions.append(transition)
        return DecisionAccepted(
            review_id=review_id,
            outcome=request.outcome.value,
            summary=transition.summary,
            phase=p.phase.value,
            step=p.step.value,
        )

    @decide.validator
    def _validate_decide(self, request: DecisionRequest) -> None:
        _reject(self._partnership.problems_deciding(request))

    @workflow.update
    def exit(self, request: ExitRequest) -> Acknowledged:
        return self._accept(self._partnership.apply_exit(request, workflow.now()), "")

    @exit.validator
    def _validate_exit(self, request: ExitRequest) -> None:
        _reject(self._partnership.problems_exiting(request))

    @workflow.update
    async def complete_task(self, request: CompleteTaskRequest) -> Acknowledged:
        p = self._partnership
        tasks = p.apply_task_completion(request)
        summary = "done: " + "; ".join(t.title for t in tasks)
        closure = CloseTasksInput(task_ids=[t.id for t in tasks], status="done", by=request.by, at=workflow.now())
        if self._records_steps:
            # Answered once the store has it, so `partnerships tasks` never shows it open after.
            number = self._step_number
            self._step.closed_tasks.append(closure)
            self._transitions.append(Transition(summary=summary))
            await workflow.wait_condition(lambda: self._recorded_through >= number)
        else:
            await self._activity(
                ActivityName.CLOSE_TASKS,
                closure,
                summary=f"Mark '{tasks[0].title}' done for {p.charter.partner.name}",
            )
        return Acknowledged(summary=summary, phase=p.phase.value, step=p.step.value)

    @complete_task.validator
    def _validate_complete_task(self, request: CompleteTaskRequest) -> None:
        _reject(self._partnership.problems_completing_task(request))

    # ------------------------------------------------------------- queries

    @workflow.query
    def status(self) -> PartnershipStatus:
        p = self._partnership
        return PartnershipStatus(
            partnership=p,
            current_gate=p.review.evaluation if p.review else p.evaluate(),
            awaiting=p.awaiting(),
        )
