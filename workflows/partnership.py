"""One durable workflow per partnership: charter, Crawl, Walk, Run, and the way out.

The rules live in `partnerships.domain` (what a request may do, what a gate decides,
what people see); this file waits, notes what each step leaves behind in the
`StepJournal`, and writes it before waiting again. No I/O, no clock but
`workflow.now()`, no randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from partnerships.domain import views
    from partnerships.domain.charter import Person
    from partnerships.domain.lifecycle import (
        AmendRequest,
        CompleteTaskRequest,
        Condition,
        DecisionRequest,
        ExitRequest,
        GateReview,
        KeyChangeRequest,
        Partnership,
        Phase,
        PilotResultRequest,
        RecommitRequest,
        Request,
        ScorecardRequest,
        SignAmendmentRequest,
        SignRequest,
        Step,
        TaskKind,
        Transition,
        WalkResultRequest,
    )
    from partnerships.domain.vocabulary import WORKFLOW_TYPE
    from partnerships.engine import visibility
    from partnerships.engine.contracts import (
        Acknowledged,
        ActRecord,
        CloseTasksInput,
        ConditionTask,
        CreateTasksInput,
        DecisionAccepted,
        PartnershipOutcome,
        PartnershipStatus,
        Recipient,
        SendNotificationInput,
        StartPartnership,
        StepRecorded,
    )
    from partnerships.engine.metrics import REFUSED_PROOF, REFUSED_RULES
    from partnerships.engine.proofs import NO_PROOF, Proof, problems_with_proof, remember_nonce
    from partnerships.engine.refusals import refusal
    from workflows import metrics
    from workflows.deadline import Deadline
    from workflows.journal import StepJournal


@workflow.defn(name=WORKFLOW_TYPE)
class PartnershipWorkflow:
    @workflow.init
    def __init__(self, start: RawValue) -> None:
        # Read by hand rather than by the SDK: input that cannot be read or does not belong to
        # this workflow fails the workflow at once with its reason, instead of failing every
        # workflow task forever.
        info = workflow.info()
        self._start, self._start_problems = StartPartnership.read(
            start.payload.data, info.workflow_id, continued=info.continued_run_id is not None
        )
        if self._start_problems:
            return
        if self._start.resume is not None:
            self._partnership = self._start.resume
        else:
            assert self._start.charter is not None
            self._partnership = Partnership.begin(self._start.charter, self._start.time_scale, workflow.now())
        p = self._partnership
        # What people did (Updates) or deadlines decided, waiting for the workflow to act on.
        self._transitions: list[Transition] = []
        # Reminders, escalations and expiries already acted on, by key: a wake-up never repeats one.
        self._fired: set[str] = set(self._start.fired)
        self._deadline = Deadline()
        resumed = self._start.resume is not None
        # The previous run left the read model and search attributes as they stand now.
        self._journal = StepJournal(
            p.workflow_id,
            info.first_execution_run_id,
            p.charter.partner.name,
            views.snapshot_of(p, workflow.now()) if resumed else None,
            retry_refused_after=timedelta(seconds=self._start.record_retry_seconds),
            local_budget=timedelta(seconds=self._start.local_record_seconds),
            on_recorded=self._recorded,
        )
        # Proofs already used, so a signed request cannot be sent twice (engine/proofs.py).
        self._nonces = dict(self._start.recent_nonces)
        # A continued run starts with its attributes set (continue_as_new passes them on).
        self._shown_attributes = visibility.search_attribute_updates(self._partnership)[1] if resumed else None
        self._latest = ""

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, start: RawValue) -> PartnershipOutcome:
        if self._start_problems:
            raise ApplicationError(
                "this partnership cannot start: " + "; ".join(self._start_problems),
                self._start_problems,
                type="InvalidStart",
                non_retryable=True,
            )
        p = self._partnership
        if self._start.resume is None:
            self._show("partnership started: waiting for both sides to sign the charter")
            self._note_message("charter-ready", self._owners(), key=f"{p.workflow_id}:charter-ready")
        while not p.closed:
            if p.step in (Step.SIGNING, Step.RECOMMITMENT):
                await self._collect_signatures()
            elif p.step is Step.UNDERWAY:
                await self._let_period_run()
            elif p.step is Step.GATE_REVIEW:
                await self._await_decision()
            elif p.step is Step.ON_HOLD:
                await self._hold()
            elif p.step is Step.WINDING_DOWN:
                await self._wind_down()
            new_quarter = self._act_on_transitions()
            if self._time_to_continue_as_new(new_quarter) and await self._settled():
                workflow.continue_as_new(
                    self._start.model_copy(
                        update={
                            "charter": None,
                            "resume": p,
                            "fired": sorted(self._fired),
                            "recent_nonces": self._nonces,
                        }
                    ),
                    search_attributes=visibility.search_attributes(p),
                )
        await self._settled()
        return PartnershipOutcome(
            workflow_id=p.workflow_id, phase=p.phase.value, end_reason=p.end_reason, quarters_in_run=p.quarter
        )

    def _time_to_continue_as_new(self, new_quarter: bool) -> bool:
        # Between quarters, once the run's history is long enough: a years-long partnership's
        # history stays short and flat, and a short one never pays for a new run. In any phase,
        # at a quiet moment once the run is very long (thousands of corrections).
        p = self._partnership
        if p.closed or self._transitions:
            return False
        info = workflow.info()
        length = info.get_current_history_length()
        if info.is_continue_as_new_suggested() or length >= self._start.history_limit:
            return True
        quarter_boundary = new_quarter and p.phase is Phase.RUN and p.step is Step.UNDERWAY
        return quarter_boundary and length >= self._start.run_history_limit

    async def _settled(self) -> bool:
        """Before the run ends or continues as new: every step written, every message out,
        every Update answered. False when people acted meanwhile: the run goes on for now."""
        while True:
            if self._partnership.closed:
                self._transitions.clear()  # nothing is left to do about them
            await self._write_everything_noted()
            await self._journal.delivered()
            # An Update accepted while the last step was written (a task done) waits for its
            # own step: write it rather than wait for handlers that wait for us.
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() or bool(self._transitions) or not self._journal.is_empty()
            )
            if self._transitions:
                return False
            if self._journal.is_empty() and workflow.all_handlers_finished():
                return True

    # ------------------------------------------------------------- stages

    async def _collect_signatures(self) -> None:
        """Both decision owners sign (the charter, or the re-commitment to Run): remind, escalate, expire."""
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
            unsigned = self._to(views.unsigned_owners(p))
            if action == "expiry":
                self._transitions.append(p.apply_signing_expiry(workflow.now()))
                return
            if action == "escalation":
                self._note_message(
                    f"{what}-escalation", self._escalation_path(), key=key, unsigned=[r.name for r in unsigned]
                )
            else:
                self._note_message(f"{what}-reminder", unsigned, key=key)

    async def _let_period_run(self) -> None:
        """Crawl, Walk or a Run quarter runs its course, then its review opens."""
        p = self._partnership
        if await self._wait_until(p.phase_ends_at, lambda: False):
            return
        review = p.open_review(workflow.now())
        if p.phase is Phase.RUN:
            self._note_tasks(TaskKind.QBR)
        self._review_opened(review, f"{review.label} opened")

    def _review_opened(self, review: GateReview, summary: str) -> None:
        self._journal.note_review(review)
        metrics.review_opened(review)
        self._note_message(
            "review-opened", self._reviewers(), key=f"{review.id}:opened", review=views.review_facts(review)
        )
        self._show(summary)

    async def _hold(self) -> None:
        """On hold: nothing advances and nobody is reminded until the re-check date; then the review reopens."""
        p = self._partnership
        assert p.hold is not None
        if await self._wait_until(p.hold.until, lambda: p.step is not Step.ON_HOLD):
            return
        label = p.hold.label
        review = p.reopen_after_hold(workflow.now())
        self._review_opened(review, f"the hold is over: the {label} reopens")

    async def _await_decision(self) -> None:
        """The reviewers decide; if they don't: a reminder, then escalation, then the recommendation by policy."""
        p = self._partnership
        review = p.review
        assert review is not None
        schedule = [(review.remind_at, "reminder"), (review.escalate_at, "escalation"), (review.policy_at, "policy")]
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
            # Reviewers who already voted are not chased; the escalation names those who have not.
            pending = self._to(views.reviewers_yet_to_vote(p))
            if action == "reminder":
                metrics.review_overdue(review)
                # Everyone voted without agreeing: all of them must talk it over.
                audience = pending or self._reviewers()
            else:
                metrics.review_escalated(review)
                audience = self._escalation_path()
            self._note_message(
                f"review-{action}",
                audience,
                key=key,
                review=views.review_facts(review),
                yet_to_vote=[r.name for r in pending],
            )

    async def _wind_down(self) -> None:
        """After an exit or an expiry: the partnership closes once every wind-down task is done."""
        p = self._partnership

        def finished() -> bool:
            # Not while the store refuses the step that makes the wind-down tasks: none would be open yet.
            return p.wind_down_finished() and self._journal.refused is None

        await self._wait_until(None, finished)
        if self._transitions or not finished():
            return
        p.close()
        self._show("every wind-down task is done: the partnership is closed")

    async def _wait_until(self, deadline: datetime | None, condition: Callable[[], bool]) -> bool:
        """Write the step so far, then wait for a person's act or the condition (True), or the deadline (False).

        Meanwhile, each open task whose due date passes is marked overdue and its owner reminded."""
        p = self._partnership
        while True:
            await self._write_everything_noted()
            task_due = p.next_task_due()
            wake = deadline if task_due is None or (deadline is not None and deadline <= task_due) else task_due

            def woken(waited_for: datetime | None = task_due) -> bool:
                # Tasks joining late (a step the store refused, written on retry) bring their own due dates.
                return bool(self._transitions) or condition() or p.next_task_due() != waited_for

            if await self._deadline.wait(wake, woken):
                if self._transitions or condition():
                    return True
                continue
            # The timer for `wake` fired: it is at least then. Judged as of `wake`, not the clock,
            # which a worker taking over may show stale (see Deadline): a replay decides the same.
            assert wake is not None
            self._remind_overdue_tasks(wake)
            if deadline is not None and wake >= deadline:
                return False

    def _remind_overdue_tasks(self, moment: datetime) -> None:
        """Tasks past their due date at `moment`: each owner hears once about theirs; the Web UI and
        `list --overdue` show them."""
        p = self._partnership
        for condition in p.escalate_overdue_conditions(moment):
            self._note_message(
                "condition-escalation",
                self._escalation_path(),
                key=f"{condition.id}:escalation",
                condition=views.condition_facts(condition, seconds=p.time_scale.is_rehearsal),
            )
        overdue = p.mark_overdue_tasks(moment)
        if not overdue:
            return
        rehearsal = p.time_scale.is_rehearsal
        for owner, tasks in views.overdue_by_owner(p, overdue):
            self._note_message(
                "tasks-overdue",
                self._to([owner]),
                key=f"{tasks[0].id}:overdue",
                overdue_tasks=[views.task_facts(t, seconds=rehearsal) for t in tasks],
            )
        self._show(f"{len(overdue)} task(s) overdue")

    async def _write_everything_noted(self) -> None:
        # Writing a step can note more (tasks made moot by an end in the same step): written too.
        while not self._journal.is_empty() and self._journal.refused is None:
            await self._journal.write()

    # ------------------------------------------------- acting on what happened

    def _act_on_transitions(self) -> bool:
        """Note what the last state changes call for. True when a new Run quarter began."""
        p = self._partnership
        new_quarter = False
        while self._transitions:
            transition = self._transitions.pop(0)
            review = transition.decided_review
            if review is not None:
                self._journal.note_review(review)
                metrics.review_decided(review)
                facts = views.review_facts(review)
                everyone = [*self._reviewers(), *self._owners()]
                key = review.id
                self._note_message("decision", everyone, key=f"{key}:decided", review=facts, summary=transition.summary)
                assert review.decision is not None
                if review.decision.overrides_failing_gate:
                    self._note_message(
                        "override",
                        self._escalation_path(),
                        key=f"{key}:override",
                        review=facts,
                        summary=transition.summary,
                    )
            elif p.review is not None:
                self._journal.note_review(p.review)  # a vote, or evidence, arrived during a review
            if transition.held is not None:
                self._note_message(
                    "on-hold",
                    [*self._reviewers(), *self._owners()],
                    key=f"{p.workflow_id}:review-{p.review_count}:hold",
                    hold=views.hold_facts(transition.held, seconds=p.time_scale.is_rehearsal),
                    summary=transition.summary,
                )
            if transition.conditions:
                self._note_condition_tasks(transition.conditions)
            if transition.cancelled_tasks:
                self._note_closed_tasks(transition.cancelled_tasks)
            if transition.tasks is not None:
                self._note_tasks(transition.tasks, reason=p.end_reason)
            if transition.ended:
                self._note_message(
                    "partnership-ended",
                    [*self._owners(), *self._reviewers()],
                    key=f"{p.workflow_id}:ended",
                    summary=transition.summary,
                )
            self._show(transition.summary)
            new_quarter = new_quarter or transition.new_quarter
        return new_quarter

    def _recorded(self, recorded: StepRecorded) -> None:
        """A step is in the store: the tasks it created join the partnership."""
        moot = self._partnership.add_tasks(recorded.tasks)
        if moot:
            # The partnership ended while these were being created: nobody should do them.
            self._note_closed_tasks([t.id for t in moot])
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        return views.current_details(self._partnership, self._latest, self._journal.refused)

    def _show(self, summary: str) -> None:
        """Make the current state visible now (search attributes, Web UI details); note the read model's row."""
        p = self._partnership
        updates, self._shown_attributes = visibility.search_attribute_updates(p, self._shown_attributes)
        if updates:
            workflow.upsert_search_attributes(updates)
        self._latest = summary
        workflow.set_current_details(self._details())
        self._journal.note_snapshot(views.snapshot_of(p, workflow.now()))

    def _note_tasks(self, kind: TaskKind, reason: str | None = None) -> None:
        """Tasks from the templates, created with the step; the owners' message lists whatever they made."""
        p = self._partnership
        request = CreateTasksInput.for_partnership(p, kind, reason, workflow.now())
        self._journal.note_new_tasks(request)
        self._note_message(
            "tasks", self._owners(), key=f"{request.batch_key}:sent", task_kind=kind.value, task_batch=request.batch_key
        )

    def _note_condition_tasks(self, conditions: list[Condition]) -> None:
        """A conditional go: each condition a task of its owner's, in one batch, sent like kickoff tasks."""
        p = self._partnership
        request = CreateTasksInput.for_partnership(p, TaskKind.CONDITION, None, workflow.now())
        request.batch_key = f"{conditions[0].set_at}:conditions"
        request.conditions = [ConditionTask(id=c.id, title=c.title, owner=c.owner, due_at=c.due_at) for c in conditions]
        self._journal.note_new_tasks(request)
        self._note_message(
            "tasks",
            self._owners(),
            key=f"{request.batch_key}:sent",
            task_kind=TaskKind.CONDITION.value,
            task_batch=request.batch_key,
        )

    def _note_closed_tasks(self, task_ids: list[str], status: str = "cancelled", by: str = "engine") -> None:
        self._journal.note_closed_tasks(CloseTasksInput(task_ids=task_ids, status=status, by=by, at=workflow.now()))

    def _note_message(
        self, kind: str, audience: list[Recipient], *, key: str, task_batch: str | None = None, **facts: Any
    ) -> None:
        """A message, sent once the step is written: a notifier outage delays it, never the partnership."""
        p = self._partnership
        self._journal.note_message(
            SendNotificationInput(
                key=key,
                kind=kind,
                partnership_id=p.workflow_id,
                audience=audience,
                context={**views.message_facts(p), **facts},
                sent_at=workflow.now(),
                task_batch=task_batch,
            )
        )

    @staticmethod
    def _to(people: list[Person]) -> list[Recipient]:
        return [Recipient(name=p.name, email=p.email, slack_user_id=p.slack_user_id) for p in people]

    def _owners(self) -> list[Recipient]:
        return self._to(views.decision_owners(self._partnership))

    def _reviewers(self) -> list[Recipient]:
        return self._to(views.reviewers(self._partnership))

    def _escalation_path(self) -> list[Recipient]:
        return self._to(views.escalation_path(self._partnership))

    # ------------------------------------------------------------ updates
    # Every request a person makes comes with a proof of who made it: `_refuse_unproven` checks
    # it first, then the domain's `problems_*` refuse the request itself (either way nothing
    # lands in the history); the handler spends the proof's nonce and `apply_*` changes the state.

    def _refuse_unproven(self, request: Request, proof: Proof | None) -> None:
        p = self._partnership
        if not isinstance(request, Request) or not isinstance(proof, Proof):
            # Sent with fewer or more arguments than (request, proof), the SDK hands over raw
            # values: refuse them here, before anything reads them as a request.
            _refuse(
                [NO_PROOF if proof is None else "request: send one request and its proof, as `partnerships` does"],
                REFUSED_PROOF,
            )
        update = workflow.current_update_info()
        _refuse(
            problems_with_proof(
                proof,
                workflow_id=p.workflow_id,
                update=update.name if update else "",
                request=request,
                actor=request.actor,
                charter=p.charter,
                doors=self._start.doors,
                seen_nonces=self._nonces,
                now=workflow.now(),
            ),
            REFUSED_PROOF,
        )

    def _spend(self, request: Request, proof: Proof | None) -> None:
        """The proof's nonce is used up, and the act goes into the store with its proof."""
        assert proof is not None  # the validator refused requests without one
        remember_nonce(self._nonces, proof, workflow.now())
        update = workflow.current_update_info()
        self._journal.note_act(
            ActRecord(
                nonce=proof.nonce,
                update=update.name if update else "",
                actor=request.actor,
                door=proof.door.value,
                key_fingerprint=proof.fingerprint,
                signed_at=proof.signed_at,
                accepted_at=workflow.now(),
                request_json=request.model_dump_json(),
                proof_json=proof.model_dump_json(),
            )
        )

    def _after_act(self, transition: Transition) -> None:
        """An act other than a vote changed the partnership: evidence, a condition met or an amendment
        can give the votes already cast on the open review their quorum."""
        self._transitions.append(transition)
        settled = self._partnership.settle_review(workflow.now())
        if settled is not None:
            self._transitions.append(settled)

    def _accept(self, transition: Transition | None, summary: str) -> Acknowledged:
        p = self._partnership
        self._after_act(transition or Transition(summary=summary))
        return Acknowledged(
            summary=transition.summary if transition else summary, phase=p.phase.value, step=p.step.value
        )

    @workflow.update
    def sign_charter(self, request: SignRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        transition = self._partnership.apply_signature(request, workflow.now())
        return self._accept(transition, f"{self._partnership.signatures[-1].name} signed the charter")

    @sign_charter.validator
    def _validate_sign_charter(self, request: SignRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_signing(request))

    @workflow.update
    def recommit(self, request: RecommitRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        transition = self._partnership.apply_recommitment(request, workflow.now())
        return self._accept(transition, f"{self._partnership.recommitments[-1].name} re-committed to Run")

    @recommit.validator
    def _validate_recommit(self, request: RecommitRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_recommitting(request))

    @workflow.update
    def record_pilot_results(self, request: PilotResultRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        self._partnership.apply_pilot_result(request)
        return self._accept(None, "pilot results recorded")

    @record_pilot_results.validator
    def _validate_pilot_results(self, request: PilotResultRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_recording_pilot(request))

    @workflow.update
    def record_walk_results(self, request: WalkResultRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        self._partnership.apply_walk_result(request)
        return self._accept(None, "Walk results recorded")

    @record_walk_results.validator
    def _validate_walk_results(self, request: WalkResultRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_recording_walk(request))

    @workflow.update
    def record_scorecard(self, request: ScorecardRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        self._partnership.apply_scorecard(request)
        return self._accept(None, f"quarter {self._partnership.quarter} scorecard recorded")

    @record_scorecard.validator
    def _validate_scorecard(self, request: ScorecardRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_recording_scorecard(request))

    @workflow.update
    def decide(self, request: DecisionRequest, proof: Proof | None = None) -> DecisionAccepted:
        self._spend(request, proof)
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
            decided=transition.vote is None,
            tally=p.tally() if transition.vote is not None else "",
        )

    @decide.validator
    def _validate_decide(self, request: DecisionRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_deciding(request))

    @workflow.update
    def exit(self, request: ExitRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        return self._accept(self._partnership.apply_exit(request, workflow.now()), "")

    @exit.validator
    def _validate_exit(self, request: ExitRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_exiting(request))

    @workflow.update
    def amend_charter(self, request: AmendRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        p = self._partnership
        transition = p.apply_amendment(request, workflow.now())
        if p.amendment is not None:
            # The other side learns of it from the engine, not only from whoever proposed it.
            self._note_message(
                "amendment-proposed",
                self._owners(),
                key=f"{p.workflow_id}:amendment:{p.amendment.content_hash}",
                proposed_by=p.amendment.proposed_by,
                amendment_hash=p.amendment.content_hash,
                reason=p.amendment.reason,
            )
        return self._accept(transition, "")

    @amend_charter.validator
    def _validate_amend_charter(self, request: AmendRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_amending(request))

    @workflow.update
    def sign_amendment(self, request: SignAmendmentRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        return self._accept(self._partnership.apply_amendment_signature(request, workflow.now()), "")

    @sign_amendment.validator
    def _validate_sign_amendment(self, request: SignAmendmentRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_signing_amendment(request))

    @workflow.update
    def change_keys(self, request: KeyChangeRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        return self._accept(self._partnership.apply_key_change(request, workflow.now()), "")

    @change_keys.validator
    def _validate_change_keys(self, request: KeyChangeRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_changing_keys(request))

    @workflow.update
    async def complete_task(self, request: CompleteTaskRequest, proof: Proof | None = None) -> Acknowledged:
        self._spend(request, proof)
        p = self._partnership
        tasks = p.apply_task_completion(request)
        summary = "done: " + "; ".join(t.title for t in tasks)
        self._note_closed_tasks([t.id for t in tasks], status="done", by=request.by)
        self._after_act(Transition(summary=summary))
        # Answered once the store has it, so `partnerships tasks` never shows it open after.
        await self._journal.until_noted_parts_are_written()
        return Acknowledged(summary=summary, phase=p.phase.value, step=p.step.value)

    @complete_task.validator
    def _validate_complete_task(self, request: CompleteTaskRequest, proof: Proof | None = None) -> None:
        self._refuse_unproven(request, proof)
        _refuse(self._partnership.problems_completing_task(request))

    # ------------------------------------------------------------- queries

    @workflow.query
    def status(self) -> PartnershipStatus:
        p = self._partnership
        return PartnershipStatus(
            partnership=p,
            current_gate=p.review.evaluation if p.review else p.evaluate(),
            awaiting=p.awaiting(),
            record_problem=self._journal.refused,
        )


def _refuse(problems: list[str], cause: str = REFUSED_RULES) -> None:
    """In a validator: refuse the Update when there are problems (and count the refusal)."""
    if problems:
        metrics.request_refused(cause)
        raise refusal(problems)
