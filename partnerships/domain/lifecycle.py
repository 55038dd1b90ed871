"""The partnership's life: phases strictly in order, each ended by a gate decision.

`Partnership` is the whole state of one partnership and the only place its
rules live. Each thing a person can submit has a ``problems_*`` method (empty
when the request is acceptable; the workflow's Update validators call these)
and an ``apply_*`` method that changes the state and says what must happen next.
No I/O and no clock here: the caller passes ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from partnerships.domain import rules
from partnerships.domain.charter import Charter, PublicKeyLine, Side, people_in, same_key
from partnerships.domain.durations import moment
from partnerships.domain.gates import (
    ALLOWED_OUTCOMES,
    ConditionState,
    CrawlEvidence,
    GateBasis,
    GateEvaluation,
    GateRules,
    PilotResult,
    QuarterFacts,
    Scorecard,
    WalkEvidence,
    evaluate_crawl,
    evaluate_qbr,
    evaluate_walk,
    with_conditions,
)
from partnerships.domain.lean import Lean
from partnerships.domain.quorum import Ballot, reached, still_needed
from partnerships.domain.text import Identity, Line, Reason, one_line, same_text, visible_length
from partnerships.domain.vocabulary import Gate, Outcome, Phase, Rag, Step

ENDED_PHASES = (Phase.EXITED, Phase.COMPLETED)


class TaskKind(StrEnum):
    CRAWL_KICKOFF = "crawl-kickoff"
    WALK_KICKOFF = "walk-kickoff"
    RUN_KICKOFF = "run-kickoff"
    QBR = "qbr"
    # A go's conditions: each one a task with an owner and a due date, checked at the next gate.
    CONDITION = "condition"
    EXIT = "exit"
    CHARTER_EXPIRED = "charter-expired"


WIND_DOWN_TASKS = (TaskKind.EXIT, TaskKind.CHARTER_EXPIRED)
# When the partnership goes back to Crawl, the kickoff tasks of the Crawl it leaves and of the
# Walk it abandons no longer apply (the new Crawl gets its own). Advancing keeps a phase's open
# kickoff tasks (Walk's formal integration still matters in Run); an exit makes everything but
# the wind-down moot.
MOOT_WHEN_CRAWL_RESTARTS = (TaskKind.CRAWL_KICKOFF, TaskKind.WALK_KICKOFF)


class TimeScale(Lean):
    """How long a week lasts. Real time by default; demos and tests compress it.

    Part of the workflow input, so compressed runs replay deterministically.
    """

    model_config = ConfigDict(frozen=True)

    seconds_per_week: Annotated[float, Field(ge=rules.FASTEST_SECONDS_PER_WEEK, le=rules.REAL_SECONDS_PER_WEEK)] = (
        rules.REAL_SECONDS_PER_WEEK
    )
    # A rehearsal's gate review window in seconds, instead of the charter's days compressed like
    # everything else: time for a person to read the gate before policy decides it.
    review_window_seconds: (
        Annotated[float, Field(ge=rules.SHORTEST_REVIEW_WINDOW_SECONDS, le=rules.MAX_REVIEW_WINDOW_DAYS * 86400)] | None
    ) = None

    @model_validator(mode="after")
    def _own_review_window_only_in_rehearsal(self) -> TimeScale:
        if self.review_window_seconds is not None and not self.is_rehearsal:
            raise ValueError("review_window_seconds: only a rehearsal (compressed time) sets its own review window")
        return self

    @property
    def is_rehearsal(self) -> bool:
        """Compressed time: a demo or a test, never a partnership of record."""
        return self.seconds_per_week < rules.REAL_SECONDS_PER_WEEK

    def describe(self) -> str:
        """`rehearsal: 1 week = 0.5 s` for compressed time, empty for real time."""
        if not self.is_rehearsal:
            return ""
        seconds = self.seconds_per_week
        window = "" if self.review_window_seconds is None else f", review window {_amount(self.review_window_seconds)}"
        return f"rehearsal: 1 week = {_amount(seconds)}{window}"

    def review_window(self, charter_days: int) -> timedelta:
        """The gate review window: the charter's days in (compressed) time, or a rehearsal's own."""
        return self.time_to_respond(charter_days, charter_days)

    def time_to_respond(self, days: float, review_window_days: int) -> timedelta:
        """How long people have to act (review, sign, re-commit), `days` by the charter.

        A rehearsal with its own review window paces every wait for people by it, in the
        charter's proportions (the review window becomes `review_window_seconds`), so nobody's
        act is pre-empted by a deadline while they read; periods and task due dates stay compressed."""
        if self.review_window_seconds is not None:
            # Never longer than the charter gives people for real.
            seconds = min(self.review_window_seconds * days / review_window_days, days * rules.SECONDS_PER_DAY)
            return timedelta(seconds=seconds)
        return self.days(days)

    def weeks(self, weeks: float) -> timedelta:
        return timedelta(seconds=weeks * self.seconds_per_week)

    def days(self, days: float) -> timedelta:
        return self.weeks(days / rules.DAYS_PER_WEEK)


def _amount(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


class Request(BaseModel):
    # Strict: what a person sends is taken as typed, never coerced ("yes" is not true).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
    # The field naming the person who makes the request: the one whose proof must hold.
    ACTOR: ClassVar[str]

    @property
    def actor(self) -> str:
        return str(getattr(self, self.ACTOR))


ContentHash = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class SignRequest(Request):
    ACTOR = "signer"
    signer: Identity
    # The charter the signer read (`charter check` shows its hash): refused if it is not this one.
    charter_hash: ContentHash | None = None


class RecommitRequest(Request):
    ACTOR = "signer"
    signer: Identity
    roi_model_holds: bool


class PilotResultRequest(Request):
    ACTOR = "recorded_by"
    recorded_by: Identity
    pilot: PilotResult | None = None
    integration_can_scale: bool | None = None


class WalkResultRequest(Request):
    ACTOR = "recorded_by"
    recorded_by: Identity
    invited: Annotated[int, Field(ge=0, le=100_000)] | None = None
    adopted: Annotated[int, Field(ge=0, le=100_000)] | None = None
    partner_promoting: bool | None = None
    support_manageable: bool | None = None


class ScorecardRequest(Request):
    ACTOR = "recorded_by"
    recorded_by: Identity
    scorecard: Scorecard


class ConditionRequest(BaseModel):
    """One condition of a go: what must be done, by whom, within how many days."""

    model_config = ConfigDict(extra="forbid", strict=True)
    title: Annotated[Line, StringConstraints(max_length=300)]
    owner: Identity
    due_in_days: Annotated[int, Field(ge=1, le=365)]


def parse_condition(text: str, number: int = 1) -> ConditionRequest:
    """A condition as people write it on the command line or the link's page: 'WHAT | OWNER EMAIL | DAYS'."""
    parts = [part.strip() for part in text.split("|")]
    if len(parts) != 3 or not all(parts) or not parts[2].isdigit():
        raise ValueError(f"condition {number}: write it as 'WHAT | OWNER EMAIL | DAYS', not {text.strip()!r}")
    return ConditionRequest.model_validate(
        {"title": parts[0], "owner": parts[1], "due_in_days": int(parts[2])}, strict=False
    )


class DecisionRequest(Request):
    """A reviewer's vote on the open gate review: it decides once the gate's quorum agrees."""

    ACTOR = "reviewer"
    reviewer: Identity
    outcome: Outcome
    reason: Reason = ""
    extend_weeks: Annotated[int, Field(ge=1, le=4)] = 2
    # A conditional go: each condition becomes a task, and the next gate fails while one is unmet.
    conditions: Annotated[list[ConditionRequest], Field(max_length=10)] = []
    # A hold: the review reopens this many days later (the reason says what must change).
    recheck_in_days: Annotated[int, Field(ge=1, le=180)] | None = None
    # At a QBR: the charter's written exit criteria (by number, from 1) this reviewer judges met.
    exit_criteria_met: Annotated[list[Annotated[int, Field(ge=1, le=30)]], Field(max_length=30)] = []


class ExitRequest(Request):
    ACTOR = "by"
    by: Identity
    reason: Reason


class AmendRequest(Request):
    """A new version of the charter, proposed by a decision owner before Run."""

    ACTOR = "by"

    by: Identity
    charter: Charter
    reason: Reason


class SignAmendmentRequest(Request):
    ACTOR = "signer"
    signer: Identity
    charter_hash: ContentHash | None = None


class KeyChangeRequest(Request):
    """Add a person's public key, or revoke one: by that person, or by our decision owner."""

    ACTOR = "by"

    by: Identity
    person: Identity
    add: PublicKeyLine | None = None
    revoke: PublicKeyLine | None = None


TaskId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), BeforeValidator(one_line)
]


class CompleteTaskRequest(Request):
    """One task done, or several at once (`partnerships task done ID ID ...`)."""

    ACTOR = "by"
    task_id: TaskId | None = None
    task_ids: Annotated[list[TaskId], Field(max_length=100)] = []
    by: Identity

    @model_validator(mode="after")
    def _names_a_task(self) -> CompleteTaskRequest:
        if not self.ids():
            raise ValueError("task_ids: name at least one task")
        return self

    def ids(self) -> list[str]:
        """Every task named, each once, in the order given."""
        named = ([self.task_id] if self.task_id else []) + self.task_ids
        return list(dict.fromkeys(named))


class Signature(Lean):
    side: Side
    name: str
    email: str
    signed_at: datetime
    # The charter signed, by its content hash (Charter.content_hash).
    charter_hash: str = ""


class CharterVersion(Lean):
    """A charter that governed the partnership until an amendment replaced it, with its signatures."""

    charter: Charter
    content_hash: str
    signatures: list[Signature]
    replaced_at: datetime
    replaced_by: str
    reason: str


class Amendment(Lean):
    """A proposed charter: it governs once both sides have signed it."""

    charter: Charter
    content_hash: str
    proposed_by: str
    proposed_at: datetime
    reason: str
    signatures: list[Signature] = Field(default_factory=list)


class KeyChange(Lean):
    """A key added or revoked, kept in the record with who did it."""

    person: str
    added: str | None = None
    revoked: str | None = None
    by: str
    by_name: str
    at: datetime


class Vote(Lean):
    """A reviewer's current vote on a review; a changed vote replaces it (`changes` counts how often)."""

    reviewer: str
    name: str
    side: Side | None = None
    outcome: Outcome
    reason: str = ""
    extend_weeks: int | None = None
    conditions: list[ConditionRequest] = Field(default_factory=list)
    recheck_in_days: int | None = None
    exit_criteria_met: list[str] = Field(default_factory=list)
    cast_at: datetime
    changes: int = 0

    def describe(self) -> str:
        return f"{self.name}: {self.outcome.value}" + (f" ({self.reason})" if self.reason else "")


class Decision(Lean):
    outcome: Outcome
    decided_by: str
    decided_by_name: str
    reason: str
    decided_at: datetime
    by_policy: bool = False
    overrides_failing_gate: bool = False
    extend_weeks: int | None = None
    # Every vote cast on the review when it was decided: the dissent stays in the record.
    votes: list[Vote] = Field(default_factory=list)
    quorum: str = "any"
    conditions: list[ConditionRequest] = Field(default_factory=list)
    recheck_at: datetime | None = None
    # The written exit criteria the deciding reviewers ticked as met.
    exit_criteria_met: list[str] = Field(default_factory=list)


class Condition(Lean):
    """A condition of a go, tracked through its task until the next gate judges it."""

    id: str
    title: str
    owner: str
    due_at: datetime
    escalate_at: datetime
    set_at: str  # the review that set it
    met: bool = False
    escalated: bool = False


class Hold(Lean):
    """A gate put the partnership on hold: nothing advances until `until`, when the review reopens."""

    gate: Gate
    label: str
    reason: str
    by: str
    since: datetime
    until: datetime


class GateReview(Lean):
    id: str
    gate: Gate
    label: str
    opened_at: datetime
    remind_at: datetime
    escalate_at: datetime
    policy_at: datetime
    evaluation: GateEvaluation
    evidence: dict[str, object]
    decision: Decision | None = None
    quorum: str = "any"
    votes: list[Vote] = Field(default_factory=list)
    # What the gate was judged against, so `what-if` can judge it again under other rules.
    basis: GateBasis | None = None

    def voted(self, email: str) -> Vote | None:
        return next((v for v in self.votes if v.reviewer == email), None)


class TaskRef(Lean):
    id: str
    kind: TaskKind
    title: str
    owner: str
    due_at: datetime | None = None
    # Set when its due date passed while it was open: its owner was reminded once.
    overdue: bool = False


class Transition(BaseModel):
    """What the workflow must do after a state change."""

    tasks: TaskKind | None = None
    cancelled_tasks: list[str] = Field(default_factory=list)
    decided_review: GateReview | None = None
    # A reviewer voted and the quorum has not agreed yet: the review stays open.
    vote: Vote | None = None
    # A conditional go: its conditions' tasks are created with this step.
    conditions: list[Condition] = Field(default_factory=list)
    # Moved to hold, or back from it (the review reopens).
    held: Hold | None = None
    new_quarter: bool = False
    # This change ended the partnership (exit, no-go, expiry): everyone hears it once.
    ended: bool = False
    summary: str


# Decided reviews kept in workflow state; the store keeps all of them.
KEPT_REVIEWS = 12


class Partnership(Lean):
    charter: Charter
    time_scale: TimeScale = TimeScale()
    phase: Phase = Phase.CHARTER
    step: Step = Step.SIGNING
    started_at: datetime
    phase_started_at: datetime
    phase_ends_at: datetime | None = None
    extended_weeks: int = 0
    signatures: list[Signature] = Field(default_factory=list)
    recommitments: list[Signature] = Field(default_factory=list)
    crawl_attempt: int = 1
    crawl: CrawlEvidence = CrawlEvidence()
    walk: WalkEvidence = WalkEvidence()
    quarter: int = 0
    scorecard: Scorecard | None = None
    rag_history: list[Rag] = Field(default_factory=list)
    review: GateReview | None = None
    reviews: list[GateReview] = Field(default_factory=list)
    review_count: int = 0
    open_tasks: list[TaskRef] = Field(default_factory=list)
    end_reason: str | None = None
    ended_by: str | None = None
    # What was recorded in a phase that ended before its review opened: kept for the record.
    evidence_at_end: dict[str, object] | None = None
    # Keys added and revoked since the start: the charter above holds the keys as they are now.
    key_changes: list[KeyChange] = Field(default_factory=list)
    # Earlier charters, each with the signatures it had, and an amendment awaiting signatures.
    charter_versions: list[CharterVersion] = Field(default_factory=list)
    amendment: Amendment | None = None
    # The conditions of the last go, judged at the next gate.
    conditions: list[Condition] = Field(default_factory=list)
    # Run's quarters as their QBRs saw them, for the charter's structured exit criteria.
    quarter_facts: list[QuarterFacts] = Field(default_factory=list)
    # Times a QBR sent the partnership through a Walk-style gate again.
    revalidations: int = 0
    hold: Hold | None = None

    @classmethod
    def begin(cls, charter: Charter, time_scale: TimeScale, now: datetime) -> Partnership:
        return cls(charter=charter, time_scale=time_scale, started_at=now, phase_started_at=now)

    # ---------------------------------------------------------------- views

    @property
    def workflow_id(self) -> str:
        return self.charter.workflow_id

    @property
    def ended(self) -> bool:
        return self.phase in ENDED_PHASES

    @property
    def closed(self) -> bool:
        return self.step is Step.CLOSED

    @property
    def gate(self) -> Gate | None:
        return {Phase.CRAWL: Gate.CRAWL, Phase.WALK: Gate.WALK, Phase.RUN: Gate.QBR}.get(self.phase)

    @property
    def revalidating(self) -> bool:
        """In a Walk a QBR asked for: it proves Run still holds; it cannot send the partnership back to Crawl."""
        return self.phase is Phase.WALK and self.quarter > 0

    @property
    def crawl_restarts_left(self) -> int:
        if self.revalidating:
            return 0
        return rules.MAX_CRAWL_RESTARTS - (self.crawl_attempt - 1)

    def planned_weeks(self) -> float:
        timeline = self.charter.timeline
        if self.phase is Phase.CRAWL:
            return timeline.crawl.weeks
        if self.phase is Phase.WALK:
            return timeline.walk.weeks
        return rules.WEEKS_PER_QUARTER

    def extension_room_weeks(self) -> int:
        """Weeks this phase may still be extended by before it breaks the framework's maximum."""
        longest = {Phase.CRAWL: rules.CRAWL_WEEKS.high, Phase.WALK: rules.WALK_WEEKS.high}.get(self.phase)
        if longest is None:
            return 0
        return int(longest - self.planned_weeks() - self.extended_weeks)

    def evaluate(self) -> GateEvaluation | None:
        """The current phase's gate on the evidence so far, with the last go's conditions."""
        can_extend = self.extension_room_weeks() > 0
        if self.phase is Phase.CRAWL:
            evaluation = evaluate_crawl(self.crawl, self.charter, can_extend=can_extend)
        elif self.phase is Phase.WALK:
            evaluation = evaluate_walk(
                self.walk,
                self.charter,
                can_extend=can_extend,
                crawl_restarts_left=self.crawl_restarts_left,
            )
        elif self.phase is Phase.RUN:
            evaluation = evaluate_qbr(
                self.scorecard,
                self.rag_history,
                exit_criteria=list(self.charter.exit_criteria),
                earlier=self.quarter_facts,
                terms=GateRules.of(self.charter),
                quarter=self.quarter,
            )
        else:
            return None
        states = [ConditionState(title=c.title, met=c.met) for c in self.conditions]
        return with_conditions(evaluation, states, crawl_restarts_left=self.crawl_restarts_left)

    def gate_basis(self) -> GateBasis:
        gate = self.gate
        assert gate is not None
        return GateBasis(
            rules=GateRules.of(self.charter),
            can_extend=self.extension_room_weeks() > 0,
            crawl_restarts_left=self.crawl_restarts_left,
            previous_rags=list(self.rag_history),
            earlier_quarters=list(self.quarter_facts),
            quorum=str(self.charter.governance.quorum.for_gate(gate)),
            voters=[(p.email, p.side.value if p.side else "") for p in self.charter.governance.reviewers],
            unmet_conditions=[c.title for c in self.conditions if not c.met],
        )

    def phase_label(self) -> str:
        if self.phase is Phase.CRAWL and self.crawl_attempt > 1:
            return f"Crawl (attempt {self.crawl_attempt})"
        if self.phase is Phase.RUN and self.quarter:
            return f"Run (quarter {self.quarter})"
        if self.revalidating:
            return f"Walk (re-validation {self.revalidations})"
        return self.phase.value.capitalize()

    def batch_key(self, kind: TaskKind) -> str:
        """Stable id of one batch of tasks, so re-creating it is a no-op."""
        if kind is TaskKind.CRAWL_KICKOFF:
            return f"{self.workflow_id}:crawl-{self.crawl_attempt}"
        if kind is TaskKind.WALK_KICKOFF:
            # A restarted Crawl leads to a second Walk, whose kickoff tasks are new ones; so does a re-validation.
            if self.revalidating:
                return f"{self.workflow_id}:walk-revalidation-{self.revalidations}"
            return f"{self.workflow_id}:walk-{self.crawl_attempt}"
        if kind is TaskKind.QBR:
            return f"{self.workflow_id}:qbr-{self.quarter}"
        return f"{self.workflow_id}:{kind.value}"

    # ------------------------------------------------------------- signing

    def _signature_problems(self, signer: str, signed: list[Signature], what: str) -> tuple[list[str], Side | None]:
        side = self.charter.decision_owner_side(signer)
        if side is None:
            # Nobody learns who the owners are by trying: the charter says it to those who hold it.
            return [f"signer: {signer} is not a decision owner of this partnership (see its charter)"], None
        if any(s.side is side for s in signed):
            return [f"signer: the {side.value} side has already signed the {what}"], side
        return [], side

    def problems_signing(self, request: SignRequest) -> list[str]:
        if self.phase is not Phase.CHARTER or self.step is not Step.SIGNING:
            return [f"the charter is not open for signatures (phase: {self.phase.value})"]
        problems = self._signature_problems(request.signer, self.signatures, "charter")[0]
        if request.charter_hash is not None and request.charter_hash != self.charter.content_hash():
            problems.append(
                f"charter_hash: you read charter {request.charter_hash[:19]}…, but this partnership's is "
                f"{self.charter.content_hash()[:19]}…; read the charter it holds (`partnerships show`) and sign that"
            )
        return problems

    def apply_signature(self, request: SignRequest, now: datetime) -> Transition | None:
        self.signatures.append(self._signature(request.signer, now))
        if len(self.signatures) < 2:
            return None
        return self._enter_crawl(now, "both sides signed the charter: Crawl begins")

    def problems_recommitting(self, request: RecommitRequest) -> list[str]:
        if self.step is not Step.RECOMMITMENT:
            return ["nothing to re-commit to: Run is entered only after a passed Walk gate"]
        problems = self._signature_problems(request.signer, self.recommitments, "re-commitment")[0]
        if not request.roi_model_holds:
            problems.append(
                "roi_model_holds: Run needs the ROI model to hold at scale; if it does not, end the partnership instead"
            )
        return problems

    def apply_recommitment(self, request: RecommitRequest, now: datetime) -> Transition | None:
        self.recommitments.append(self._signature(request.signer, now))
        if len(self.recommitments) < 2:
            return None
        if self.quarter > 0:
            # Back from a re-validation: Run goes on with its next quarter; its kickoff tasks were sent once.
            self.phase, self.step = Phase.RUN, Step.UNDERWAY
            self.quarter += 1
            self._start_period(now, rules.WEEKS_PER_QUARTER)
            return Transition(summary=f"both sides re-committed: Run resumes with quarter {self.quarter}")
        self.phase, self.step = Phase.RUN, Step.UNDERWAY
        self.quarter = 1
        self._start_period(now, rules.WEEKS_PER_QUARTER)
        return Transition(tasks=TaskKind.RUN_KICKOFF, summary="both sides re-committed: Run begins")

    def _signature(self, signer: str, now: datetime) -> Signature:
        side = self.charter.decision_owner_side(signer)
        assert side is not None  # guaranteed by the validator
        owners = self.charter.governance.decision_owners
        person = owners.us if side is Side.US else owners.partner
        return Signature(
            side=side, name=person.name, email=person.email, signed_at=now, charter_hash=self.charter.content_hash()
        )

    def signing_deadlines(self) -> tuple[list[datetime], datetime, datetime]:
        """Reminders, escalation and expiry for the signatures now awaited."""
        signing = self.charter.signing
        start = self.phase_started_at

        def days(count: float) -> timedelta:
            return self.time_scale.time_to_respond(count, self.charter.governance.review_window_days)

        reminders = [
            start + days(d)
            for d in range(signing.remind_every_days, signing.escalate_after_days, signing.remind_every_days)
        ]
        return (
            reminders,
            start + days(signing.escalate_after_days),
            start + days(signing.expire_after_days),
        )

    def unsigned_sides(self) -> list[Side]:
        signed = self.signatures if self.step is Step.SIGNING else self.recommitments
        return [side for side in Side if all(s.side is not side for s in signed)]

    def apply_signing_expiry(self, now: datetime) -> Transition:
        missing = ", ".join(s.value for s in self.unsigned_sides())
        if self.step is Step.SIGNING:
            return self._end(
                Phase.EXITED,
                now,
                "policy",
                f"charter expired unsigned (missing: {missing})",
                TaskKind.CHARTER_EXPIRED,
            )
        return self._end(
            self._ended_phase(),
            now,
            "policy",
            f"re-commitment for Run expired (missing: {missing})",
            TaskKind.EXIT,
        )

    def _ended_phase(self) -> Phase:
        """A partnership that reached Run completes when it ends (a re-validation's end too); before, it exits."""
        return Phase.COMPLETED if self.phase is Phase.RUN or self.quarter > 0 else Phase.EXITED

    # ------------------------------------------------------------ phases

    def _start_period(self, now: datetime, weeks: float) -> None:
        self.phase_started_at = now
        self.phase_ends_at = now + self.time_scale.weeks(weeks)
        self.extended_weeks = 0

    def _enter_crawl(self, now: datetime, summary: str) -> Transition:
        self.phase, self.step = Phase.CRAWL, Step.UNDERWAY
        self.crawl, self.walk = CrawlEvidence(), WalkEvidence()
        self._start_period(now, self.charter.timeline.crawl.weeks)
        return Transition(tasks=TaskKind.CRAWL_KICKOFF, summary=summary)

    def period_over(self, now: datetime) -> bool:
        return self.phase_ends_at is not None and now >= self.phase_ends_at

    # ---------------------------------------------------------- evidence

    def _recorder_problems(self, identity: str, phases: tuple[Phase, ...], what: str) -> list[str]:
        problems = []
        if self.phase not in phases or self.step not in (Step.UNDERWAY, Step.GATE_REVIEW, Step.ON_HOLD):
            problems.append(
                f"{what} can be recorded only in {'/'.join(p.value for p in phases)} "
                f"(phase: {self.phase.value}, {self.step.value})"
            )
        if self.charter.person(identity) is None:
            problems.append(f"recorded_by: {identity} is not named in the charter's governance")
        return problems

    def problems_recording_pilot(self, request: PilotResultRequest) -> list[str]:
        problems = self._recorder_problems(request.recorded_by, (Phase.CRAWL,), "pilot results")
        if request.pilot is None and request.integration_can_scale is None:
            problems.append("nothing to record: give a pilot's results or whether the integration can scale")
        if request.pilot is not None:
            known = self.crawl.pilots
            limit = self.charter.timeline.crawl.pilot_customers
            is_new = not any(same_text(p.customer, request.pilot.customer) for p in known)
            if is_new and len(known) >= limit:
                problems.append(
                    f"pilot.customer: the charter scopes Crawl to {limit} pilot customer(s) "
                    f"({', '.join(p.customer for p in self.crawl.pilots)} already recorded)"
                )
        return problems

    def apply_pilot_result(self, request: PilotResultRequest) -> None:
        pilots = list(self.crawl.pilots)
        if request.pilot is not None:
            # Recording a pilot again corrects its result rather than adding a third pilot.
            pilots = [p for p in pilots if not same_text(p.customer, request.pilot.customer)]
            pilots.append(request.pilot)
        can_scale = self.crawl.integration_can_scale
        if request.integration_can_scale is not None:
            can_scale = request.integration_can_scale
        self.crawl = CrawlEvidence(pilots=pilots, integration_can_scale=can_scale)
        self._refresh_review()

    def problems_recording_walk(self, request: WalkResultRequest) -> list[str]:
        problems = self._recorder_problems(request.recorded_by, (Phase.WALK,), "Walk results")
        merged = self._merged_walk(request)
        if merged == self.walk:
            problems.append("nothing to record: give invited, adopted, partner promoting or support manageable")
        if merged.invited is not None and merged.adopted is not None and merged.adopted > merged.invited:
            problems.append(f"adopted: {merged.adopted} is more than the {merged.invited} customers invited")
        if merged.adopted is not None and merged.invited is None:
            problems.append("invited: record how many customers were invited before how many adopted")
        return problems

    def _merged_walk(self, request: WalkResultRequest) -> WalkEvidence:
        updates = request.model_dump(exclude={"recorded_by"}, exclude_none=True)
        return self.walk.model_copy(update=updates)

    def apply_walk_result(self, request: WalkResultRequest) -> None:
        self.walk = self._merged_walk(request)
        self._refresh_review()

    def problems_recording_scorecard(self, request: ScorecardRequest) -> list[str]:
        return self._recorder_problems(request.recorded_by, (Phase.RUN,), "a scorecard")

    def apply_scorecard(self, request: ScorecardRequest) -> None:
        self.scorecard = request.scorecard
        self._refresh_review()

    def _refresh_review(self) -> None:
        # An open review always shows the gate on the latest evidence.
        if self.review is not None:
            evaluation = self.evaluate()
            assert evaluation is not None
            self.review.evaluation = evaluation
            self.review.evidence = self.evidence()
            self.review.basis = self.gate_basis()
            # An amendment may change who reviews and the quorum: only today's reviewers' votes count.
            self.review.quorum = str(self.charter.governance.quorum.for_gate(self.review.gate))
            self.review.votes = [v for v in self.review.votes if self.charter.reviewer(v.reviewer) is not None]

    def unreviewed_evidence(self) -> dict[str, object]:
        """Evidence no gate review has weighed yet: the phase under way, or the one an exit cut short."""
        if self.ended:
            evidence = self.evidence_at_end or {}
        elif self.step in (Step.UNDERWAY, Step.ON_HOLD) and self.phase in (Phase.CRAWL, Phase.WALK, Phase.RUN):
            evidence = self.evidence()
        else:
            return {}
        return evidence if any(value not in (None, [], {}, "") for value in evidence.values()) else {}

    def evidence(self) -> dict[str, object]:
        if self.phase is Phase.CRAWL:
            return self.crawl.model_dump(mode="json")
        if self.phase is Phase.WALK:
            return self.walk.model_dump(mode="json")
        return {"scorecard": None if self.scorecard is None else self.scorecard.model_dump(mode="json")}

    # ------------------------------------------------------------ reviews

    def open_review(self, now: datetime) -> GateReview:
        gate = self.gate
        evaluation = self.evaluate()
        assert gate is not None and evaluation is not None
        self.review_count += 1
        window = self.time_scale.review_window(self.charter.governance.review_window_days)
        self.step = Step.GATE_REVIEW
        self.review = GateReview(
            id=f"{self.workflow_id}:review-{self.review_count}",
            gate=gate,
            label=f"{self.phase_label()} gate review",
            opened_at=now,
            remind_at=now + window,
            escalate_at=now + window * 1.5,
            policy_at=now + window * 2,
            evaluation=evaluation,
            evidence=self.evidence(),
            quorum=str(self.charter.governance.quorum.for_gate(gate)),
            basis=self.gate_basis(),
        )
        return self.review

    def problems_deciding(self, request: DecisionRequest) -> list[str]:
        review = self.review
        if review is None:
            return [f"no gate review is open ({self.phase.value}: {self.step.value})"]
        problems = []
        if self.charter.reviewer(request.reviewer) is None:
            problems.append(f"reviewer: {request.reviewer} is not a reviewer of this partnership (see its charter)")
        allowed = ALLOWED_OUTCOMES[review.gate]
        if request.outcome not in allowed:
            problems.append(
                f"outcome: {request.outcome.value} is not a decision at the {review.gate.value} gate "
                f"(allowed: {', '.join(o.value for o in allowed)})"
            )
            return problems
        failing = review.evaluation.failing
        if (
            request.outcome is Outcome.GO
            and failing
            and visible_length(request.reason) < rules.MIN_OVERRIDE_REASON_CHARS
        ):
            problems.append(
                f"reason: a go against a failing gate ({', '.join(c.key for c in failing)}) needs a "
                f"written reason of at least {rules.MIN_OVERRIDE_REASON_CHARS} characters"
            )
        if request.outcome is Outcome.RESTART_CRAWL:
            if self.crawl_restarts_left <= 0:
                problems.append(
                    f"outcome: Crawl was already restarted {rules.MAX_CRAWL_RESTARTS} time(s); decide go or no-go"
                )
            if not request.reason:
                problems.append("reason: restarting Crawl needs the changes to make, written as the reason")
        if request.outcome is Outcome.EXTEND:
            room = self.extension_room_weeks()
            if request.extend_weeks > room:
                problems.append(
                    f"extend_weeks: {self.phase.value.capitalize()} can be extended by {room} more week(s) "
                    f"at most, not {request.extend_weeks}"
                )
        if request.conditions and request.outcome is not Outcome.GO:
            problems.append("conditions: only a go can have conditions")
        for number, condition in enumerate(request.conditions, start=1):
            if self.charter.person(condition.owner) is None:
                problems.append(
                    f"conditions[{number}].owner: {condition.owner} is not named in the charter's governance"
                )
        if request.outcome is Outcome.HOLD:
            if request.recheck_in_days is None:
                problems.append("recheck_in_days: a hold needs the day it is checked again")
            if not request.reason:
                problems.append("reason: a hold needs a reason (what must change before the re-check)")
        elif request.recheck_in_days is not None:
            problems.append("recheck_in_days: only a hold has a re-check date")
        written = self._written_exit_criteria()
        if request.exit_criteria_met and request.outcome is Outcome.GO:
            problems.append("exit_criteria_met: an exit criterion you judge met calls for no-go or revalidate, not go")
        for number in request.exit_criteria_met:
            if review.gate is not Gate.QBR:
                problems.append("exit_criteria_met: exit criteria are ticked at a QBR")
                break
            if number not in written:
                problems.append(
                    f"exit_criteria_met: {number} is not one of the charter's written exit criteria "
                    f"({', '.join(str(n) for n in written) or 'it has none'})"
                )
        reviewer = self.charter.reviewer(request.reviewer)
        if reviewer is not None and not problems:
            earlier = review.voted(reviewer.email)
            if earlier is not None and self._same_vote(earlier, request):
                problems.append(
                    f"outcome: {reviewer.name} already voted {request.outcome.value} on this review; "
                    "vote something else to change it"
                )
        return problems

    def _written_exit_criteria(self) -> dict[int, str]:
        """The charter's exit criteria people judge (text, not rules), by their number in the list."""
        return {n: c for n, c in enumerate(self.charter.exit_criteria, start=1) if isinstance(c, str)}

    def _same_vote(self, vote: Vote, request: DecisionRequest) -> bool:
        return (
            vote.outcome is request.outcome
            and vote.reason == request.reason
            and vote.conditions == request.conditions
            and vote.recheck_in_days == request.recheck_in_days
            and (vote.extend_weeks is None or vote.extend_weeks == request.extend_weeks)
            and vote.exit_criteria_met == self._ticked(request)
        )

    def _ticked(self, request: DecisionRequest) -> list[str]:
        written = self._written_exit_criteria()
        return [written[n] for n in dict.fromkeys(request.exit_criteria_met) if n in written]

    def apply_decision(self, request: DecisionRequest, now: datetime) -> Transition:
        """A reviewer's vote: the review is decided when the gate's quorum agrees, else it stays open."""
        reviewer = self.charter.reviewer(request.reviewer)
        review = self.review
        assert reviewer is not None and review is not None
        earlier = review.voted(reviewer.email)
        vote = Vote(
            reviewer=reviewer.email,
            name=reviewer.name,
            side=reviewer.side,
            outcome=request.outcome,
            reason=request.reason,
            extend_weeks=request.extend_weeks if request.outcome is Outcome.EXTEND else None,
            conditions=list(request.conditions),
            recheck_in_days=request.recheck_in_days,
            exit_criteria_met=self._ticked(request),
            cast_at=now,
            changes=0 if earlier is None else earlier.changes + 1,
        )
        review.votes = [*(v for v in review.votes if v.reviewer != reviewer.email), vote]
        outcome = self.quorum_outcome()
        if outcome is None:
            verb = "voted" if earlier is None else "changed their vote to"
            return Transition(vote=vote, summary=f"{reviewer.name} {verb} {vote.outcome.value}: {self.tally()}")
        return self._decide(self._decision_of_the_quorum(outcome, now), now)

    def quorum_outcome(self) -> Outcome | None:
        """The outcome the open review's quorum agrees on, if any. A go over a failing gate
        counts only the go votes that give a written reason."""
        review = self.review
        assert review is not None
        quorum = self.charter.governance.quorum.for_gate(review.gate)
        ballots = [Ballot(v.reviewer, v.outcome) for v in self.counted_votes()]
        return reached(quorum, self.charter.governance.voters(), ballots)

    def counted_votes(self) -> list[Vote]:
        """The open review's votes that count now: over a failing gate, a go counts only with a written
        reason (evidence recorded after a go vote can make the gate fail under it)."""
        review = self.review
        assert review is not None
        failing = not review.evaluation.passed
        return [
            v
            for v in review.votes
            if not (v.outcome is Outcome.GO and failing and visible_length(v.reason) < rules.MIN_OVERRIDE_REASON_CHARS)
        ]

    def settle_review(self, now: datetime) -> Transition | None:
        """After anything but a vote changed the open review (evidence, a condition met, an amendment):
        the decision, when the votes already cast now have the quorum."""
        if self.review is None or not self.review.votes:
            return None
        outcome = self.quorum_outcome()
        if outcome is None:
            return None
        return self._decide(self._decision_of_the_quorum(outcome, now), now)

    def tally(self) -> str:
        """The open review's votes in one line: who voted what, and what the quorum still needs."""
        review = self.review
        assert review is not None
        quorum = self.charter.governance.quorum.for_gate(review.gate)
        voters = self.charter.governance.voters()
        counted = self.counted_votes()
        counts: dict[str, int] = {}
        for vote in counted:
            counts[vote.outcome.value] = counts.get(vote.outcome.value, 0) + 1
        cast = ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "no votes yet"
        uncounted = len(review.votes) - len(counted)
        if uncounted:
            cast += f" ({uncounted} go without a written reason, not counted over a failing gate)"
        ballots = [Ballot(v.reviewer, v.outcome) for v in counted]
        return f"{cast} ({quorum.describe(len(voters))}; needs {still_needed(quorum, voters, ballots)})"

    def not_yet_voted(self) -> list[str]:
        """Reviewers' emails without a vote on the open review: reminders go to them only."""
        review = self.review
        voted = {v.reviewer for v in review.votes} if review else set()
        return [p.email for p in self.charter.governance.reviewers if p.email not in voted]

    def _decision_of_the_quorum(self, outcome: Outcome, now: datetime) -> Decision:
        review = self.review
        assert review is not None
        agreeing = [v for v in self.counted_votes() if v.outcome is outcome]
        last = max(agreeing, key=lambda v: v.cast_at)
        if len(agreeing) == 1:
            names, reason = last.name, last.reason
        else:
            names = " and ".join(v.name for v in agreeing)
            reason = "; ".join(f"{v.name}: {v.reason}" for v in agreeing if v.reason)
        extend = [v.extend_weeks for v in agreeing if v.extend_weeks is not None]
        recheck = [v.recheck_in_days for v in agreeing if v.recheck_in_days is not None]
        conditions = list({c.title.casefold(): c for v in agreeing for c in v.conditions}.values())
        return Decision(
            outcome=outcome,
            decided_by=last.reviewer,
            decided_by_name=names,
            reason=reason,
            decided_at=now,
            overrides_failing_gate=outcome is Outcome.GO and not review.evaluation.passed,
            extend_weeks=min(extend) if extend else None,
            votes=list(review.votes),
            quorum=review.quorum,
            conditions=conditions,
            recheck_at=now + self.time_scale.days(min(recheck)) if recheck else None,
            exit_criteria_met=list(dict.fromkeys(c for v in agreeing for c in v.exit_criteria_met)),
        )

    def apply_policy_decision(self, now: datetime) -> Transition:
        """Nobody decided in time: the recommendation is applied and recorded as policy."""
        assert self.review is not None
        evaluation = self.review.evaluation
        outcome = evaluation.recommendation
        if outcome is Outcome.EXTEND and self.extension_room_weeks() <= 0:
            outcome = Outcome.NO_GO
        return self._decide(
            Decision(
                outcome=outcome,
                decided_by="policy",
                decided_by_name="policy (no decision in the review window)",
                reason=evaluation.rationale,
                decided_at=now,
                by_policy=True,
                extend_weeks=min(2, self.extension_room_weeks()) if outcome is Outcome.EXTEND else None,
                votes=list(self.review.votes),
                quorum=self.review.quorum,
            ),
            now,
        )

    def _close_review(self, decision: Decision) -> GateReview:
        review = self.review
        assert review is not None
        review.decision = decision
        self.reviews = [*self.reviews, review][-KEPT_REVIEWS:]
        self.review = None
        return review

    def _decide(self, decision: Decision, now: datetime) -> Transition:
        review = self._close_review(decision)
        judged: list[str] = []
        if decision.outcome not in (Outcome.EXTEND, Outcome.HOLD):
            # This gate judged the last go's conditions: a task for one still open is moot now.
            judged = [c.id for c in self.conditions if not c.met]
            self.conditions = []
            self.open_tasks = [t for t in self.open_tasks if t.id not in judged]
        transition = self._transition_after(review, decision, now)
        transition.decided_review = review
        transition.cancelled_tasks = [*judged, *(t for t in transition.cancelled_tasks if t not in judged)]
        if decision.outcome is Outcome.GO and decision.conditions and not self.ended:
            # Like a review: its owner is reminded when it falls due, the escalation path told at 1.5x.
            self.conditions = [
                Condition(
                    id=f"{review.id}:condition-{number}",
                    title=c.title,
                    owner=(self.charter.person(c.owner) or self.charter.governance.decision_owners.us).email,
                    due_at=now + self.time_scale.days(c.due_in_days),
                    escalate_at=now + self.time_scale.days(c.due_in_days * 1.5),
                    set_at=review.id,
                )
                for number, c in enumerate(decision.conditions, start=1)
            ]
            transition.conditions = list(self.conditions)
        return transition

    def reopen_after_hold(self, now: datetime) -> GateReview:
        """The re-check date: the hold ends and the gate's review opens again, with fresh reminders."""
        assert self.step is Step.ON_HOLD
        self.hold = None
        return self.open_review(now)

    def _transition_after(self, review: GateReview, decision: Decision, now: datetime) -> Transition:
        gate, outcome = review.gate, decision.outcome
        who = decision.decided_by_name
        if outcome is Outcome.HOLD:
            assert decision.recheck_at is not None
            self.step = Step.ON_HOLD
            self.hold = Hold(
                gate=gate,
                label=review.label,
                reason=decision.reason,
                by=decision.decided_by,
                since=now,
                until=decision.recheck_at,
            )
            return Transition(
                held=self.hold,
                summary=f"{who} put the partnership on hold until {self._when(decision.recheck_at)}: {decision.reason}",
            )
        if outcome is Outcome.EXTEND:
            assert decision.extend_weeks is not None
            self.step = Step.UNDERWAY
            self.extended_weeks += decision.extend_weeks
            self.phase_ends_at = now + self.time_scale.weeks(decision.extend_weeks)
            return Transition(summary=f"{who} extended {self.phase_label()} by {decision.extend_weeks} week(s)")
        if outcome is Outcome.NO_GO:
            ended_phase = self._ended_phase()
            reason = decision.reason or review.evaluation.rationale
            return self._end(
                ended_phase,
                now,
                decision.decided_by,
                f"no-go at the {review.label}: {reason}",
                TaskKind.EXIT,
            )
        if outcome is Outcome.RESTART_CRAWL:
            self.crawl_attempt += 1
            moot = [t.id for t in self.open_tasks if t.kind in MOOT_WHEN_CRAWL_RESTARTS]
            self.open_tasks = [t for t in self.open_tasks if t.kind not in MOOT_WHEN_CRAWL_RESTARTS]
            transition = self._enter_crawl(now, f"{who} sent the partnership back to Crawl: {decision.reason}")
            transition.cancelled_tasks = moot
            return transition
        # go
        if gate is Gate.CRAWL:
            self.phase, self.step = Phase.WALK, Step.UNDERWAY
            self._start_period(now, self.charter.timeline.walk.weeks)
            return Transition(tasks=TaskKind.WALK_KICKOFF, summary=f"{who} decided go: Walk begins")
        if gate is Gate.WALK:
            self.step = Step.RECOMMITMENT
            self.recommitments = []
            self.phase_started_at, self.phase_ends_at = now, None
            return Transition(summary=f"{who} decided go: both sides must re-commit before Run")
        self._close_quarter()
        if outcome is Outcome.REVALIDATE:
            self.revalidations += 1
            self.phase, self.step = Phase.WALK, Step.UNDERWAY
            self.walk = WalkEvidence()
            self._start_period(now, self.charter.timeline.walk.weeks)
            return Transition(
                tasks=TaskKind.WALK_KICKOFF,
                summary=f"{who} decided to re-validate: a {self.phase_label()} proves Run still holds",
            )
        self.quarter += 1
        self.step = Step.UNDERWAY
        self._start_period(now, rules.WEEKS_PER_QUARTER)
        return Transition(
            new_quarter=True,
            summary=f"{who} decided to continue: quarter {self.quarter} of Run begins",
        )

    def _close_quarter(self) -> None:
        """A QBR is decided: its quarter joins the history the exit criteria look back on."""
        if self.scorecard is not None:
            keep = max(rules.RED_QUARTERS_BEFORE_EXIT, rules.AMBER_QUARTERS_BEFORE_REVALIDATION)
            self.rag_history = [*self.rag_history, self.scorecard.rag][-keep:]
            facts = QuarterFacts.of(self.quarter, self.scorecard)
            self.quarter_facts = [*self.quarter_facts, facts][-rules.MAX_EXIT_QUARTERS :]
        self.scorecard = None

    # ------------------------------------------------------------ amendments

    def problems_amending(self, request: AmendRequest) -> list[str]:
        """Before Run, a decision owner may propose a new version of the charter. What a charter may
        say at all (no gate threshold below the framework's) is the charter's own validation."""
        problems = []
        if self.ended or self.phase is Phase.RUN or self.step is Step.RECOMMITMENT or self.quarter > 0:
            problems.append(f"a charter can be amended only before Run (phase: {self.phase.value}, {self.step.value})")
        if self.charter.decision_owner_side(request.by) is None:
            problems.append(f"by: {request.by} is not a decision owner of this partnership")
        new = request.charter
        if new.slug != self.charter.slug:
            problems.append(f"charter.slug: an amendment keeps the partnership's slug ({self.charter.slug})")
        if new.partner.name != self.charter.partner.name:
            problems.append(
                f"charter.partner.name: an amendment is with the same partner ({self.charter.partner.name})"
            )
        if new.content_hash() == self.charter.content_hash():
            problems.append("charter: the amended charter says the same as the current one")
        if not request.reason:
            problems.append("reason: say what the amendment changes and why")
        problems += self._threshold_problems(new, request.reason)
        return problems

    def _threshold_problems(self, new: Charter, reason: str) -> list[str]:
        """A gate threshold lowered below the framework's is an override of the framework: it
        needs a written reason like any other override."""
        lowered = [
            field
            for field, floor in (
                ("crawl_min_improvement_pct", rules.CRAWL_MIN_IMPROVEMENT_PCT),
                ("walk_min_adoption_pct", rules.WALK_MIN_ADOPTION_PCT),
            )
            if getattr(new.gates, field) < min(floor, getattr(self.charter.gates, field))
        ]
        if not lowered or visible_length(reason) >= rules.MIN_OVERRIDE_REASON_CHARS:
            return []
        return [
            f"charter.gates.{field}: lowering it below the framework's needs a written reason of at least "
            f"{rules.MIN_OVERRIDE_REASON_CHARS} characters, as any override does"
            for field in lowered
        ]

    def apply_amendment(self, request: AmendRequest, now: datetime) -> Transition:
        by = self.charter.person(request.by)
        assert by is not None
        new = with_current_keys(request.charter, self.charter)
        if self.step is Step.SIGNING:
            # Nobody has started under the old text: the amended one replaces it, to be signed afresh.
            self._archive_charter(now, by.name, request.reason)
            self.charter, self.signatures, self.amendment = new, [], None
            return Transition(summary=f"{by.name} amended the charter: both sides sign the amended charter")
        self.amendment = Amendment(
            charter=new, content_hash=new.content_hash(), proposed_by=by.name, proposed_at=now, reason=request.reason
        )
        return Transition(
            summary=f"{by.name} proposed an amendment: it governs once both sides sign it (`partnerships sign`)"
        )

    def problems_signing_amendment(self, request: SignAmendmentRequest) -> list[str]:
        if self.amendment is None or self.ended:
            return ["no amendment awaits signatures"]
        problems = self._signature_problems(request.signer, self.amendment.signatures, "amendment")[0]
        if request.charter_hash is not None and request.charter_hash != self.amendment.content_hash:
            problems.append(
                f"charter_hash: you read charter {request.charter_hash[:19]}…, but the amendment is "
                f"{self.amendment.content_hash[:19]}…"
            )
        return problems

    def apply_amendment_signature(self, request: SignAmendmentRequest, now: datetime) -> Transition:
        amendment = self.amendment
        assert amendment is not None
        signature = self._signature(request.signer, now).model_copy(update={"charter_hash": amendment.content_hash})
        amendment.signatures.append(signature)
        if len(amendment.signatures) < 2:
            return Transition(summary=f"{signature.name} signed the amendment")
        self._archive_charter(now, amendment.proposed_by, amendment.reason)
        self.charter, self.signatures, self.amendment = amendment.charter, amendment.signatures, None
        self._refresh_review()
        return Transition(
            summary="both sides signed the amendment: the amended charter governs from now on "
            "(the current phase keeps its dates)"
        )

    def _archive_charter(self, now: datetime, by: str, reason: str) -> None:
        self.charter_versions.append(
            CharterVersion(
                charter=self.charter,
                content_hash=self.charter.content_hash(),
                signatures=list(self.signatures),
                replaced_at=now,
                replaced_by=by,
                reason=reason,
            )
        )

    # ------------------------------------------------------------ keys

    def problems_changing_keys(self, request: KeyChangeRequest) -> list[str]:
        """A person's keys change only by their own act or by our decision owner's."""
        problems = []
        person = self.charter.person(request.person)
        if person is None:
            problems.append(f"person: {request.person} is not named in the charter's governance")
        by = self.charter.person(request.by)
        ours = self.charter.decision_owner_side(request.by) is Side.US
        if by is None:
            problems.append(f"by: {request.by} is not named in the charter's governance")
        elif person is not None and by.email != person.email and not ours:
            problems.append(f"by: only {person.name} or our decision owner may change {person.name}'s keys")
        if (request.add is None) == (request.revoke is None):
            problems.append("add/revoke: give one key to add or one key to revoke")
        if person is None:
            return problems
        if request.add is not None:
            if any(same_key(k, request.add) for k in person.keys):
                problems.append(f"add: {person.name} already has this key")
            elif len(person.keys) >= 5:
                problems.append(f"add: {person.name} has 5 keys already; revoke one first")
        if request.revoke is not None and not any(same_key(k, request.revoke) for k in person.keys):
            problems.append(f"revoke: {person.name} has no such key")
        return problems

    def apply_key_change(self, request: KeyChangeRequest, now: datetime) -> Transition:
        person, by = self.charter.person(request.person), self.charter.person(request.by)
        assert person is not None and by is not None
        self.charter = self.charter.with_keys_changed(person.email, add=request.add, revoke=request.revoke)
        self.key_changes.append(
            KeyChange(
                person=person.email, added=request.add, revoked=request.revoke, by=by.email, by_name=by.name, at=now
            )
        )
        what = "added a key for" if request.add else "revoked a key of"
        return Transition(summary=f"{by.name} {what} {person.name}")

    # ------------------------------------------------------------ ending

    def problems_exiting(self, request: ExitRequest) -> list[str]:
        problems = []
        if self.ended:
            problems.append(f"the partnership has already ended ({self.end_reason})")
        if self.charter.person(request.by) is None:
            problems.append(f"by: {request.by} is not named in the charter's governance")
        if not request.reason:
            problems.append("reason: say why the partnership ends")
        return problems

    def apply_exit(self, request: ExitRequest, now: datetime) -> Transition:
        person = self.charter.person(request.by)
        assert person is not None
        closed = None
        if self.review is not None:
            closed = self._close_review(
                Decision(
                    outcome=Outcome.NO_GO,
                    decided_by=person.email,
                    decided_by_name=person.name,
                    reason=f"exit: {request.reason}",
                    decided_at=now,
                )
            )
        ended_phase = self._ended_phase()
        kind = TaskKind.CHARTER_EXPIRED if self.phase is Phase.CHARTER else TaskKind.EXIT
        transition = self._end(ended_phase, now, person.email, f"exit by {person.name}: {request.reason}", kind)
        transition.decided_review = closed
        return transition

    def _end(self, phase: Phase, now: datetime, by: str, reason: str, tasks: TaskKind) -> Transition:
        if self.step in (Step.UNDERWAY, Step.ON_HOLD):
            self.evidence_at_end = self.evidence()
        cancelled = [t.id for t in self.open_tasks if t.kind not in WIND_DOWN_TASKS]
        self.open_tasks = [t for t in self.open_tasks if t.kind in WIND_DOWN_TASKS]
        self.phase, self.step = phase, Step.WINDING_DOWN
        self.hold = None
        self.conditions = [c for c in self.conditions if c.met]
        self.phase_started_at, self.phase_ends_at = now, None
        self.end_reason, self.ended_by = reason, by
        return Transition(tasks=tasks, cancelled_tasks=cancelled, summary=reason, ended=True)

    # ------------------------------------------------------------- tasks

    def add_tasks(self, tasks: list[TaskRef]) -> list[TaskRef]:
        """Take on newly created tasks; returns those that are moot because the partnership
        ended while they were being created (they are cancelled, not worked on)."""
        known = {t.id for t in self.open_tasks}
        moot = [t for t in tasks if self.ended and t.kind not in WIND_DOWN_TASKS]
        self.open_tasks = [*self.open_tasks, *(t for t in tasks if t.id not in known and t not in moot)]
        return moot

    def problems_completing_task(self, request: CompleteTaskRequest) -> list[str]:
        """A task is closed by its owner, a decision owner or a reviewer: not by anyone named."""
        open_tasks = {t.id: t for t in self.open_tasks}
        person = self.charter.person(request.by)
        if person is None:
            return [f"by: {request.by} is not named in the charter's governance"]
        may_close_any = self.charter.decision_owner_side(request.by) is not None or self.charter.reviewer(request.by)
        problems = []
        for task_id in request.ids():
            task = open_tasks.get(task_id)
            if task is None:
                problems.append(f"task_id: {task_id} is not an open task of this partnership")
            elif not may_close_any and not person.is_identified_by(task.owner):
                problems.append(
                    f"task_id: {task_id} belongs to {task.owner}; only its owner, a decision owner "
                    "or a reviewer may close it"
                )
        return problems

    def apply_task_completion(self, request: CompleteTaskRequest) -> list[TaskRef]:
        done = set(request.ids())
        tasks = [t for t in self.open_tasks if t.id in done]
        self.open_tasks = [t for t in self.open_tasks if t.id not in done]
        met = [c for c in self.conditions if c.id in done]
        for condition in met:
            condition.met = True
        if met:
            self._refresh_review()  # the open gate's `conditions` criterion sees it at once
        return tasks

    def next_task_due(self) -> datetime | None:
        """When the next open task falls overdue or an unmet condition is escalated (None: nothing
        ahead, or the partnership is on hold: its reminders wait for the re-check)."""
        if self.step is Step.ON_HOLD:
            return None
        dates = [t.due_at for t in self.open_tasks if t.due_at is not None and not t.overdue]
        dates += [c.escalate_at for c in self.conditions if not c.met and not c.escalated]
        return min(dates, default=None)

    def escalate_overdue_conditions(self, now: datetime) -> list[Condition]:
        """Unmet conditions past their escalation date, each escalated once, like a late review."""
        if self.step is Step.ON_HOLD:
            return []
        newly = [c for c in self.conditions if not c.met and not c.escalated and c.escalate_at <= now]
        for condition in newly:
            condition.escalated = True
        return newly

    def mark_overdue_tasks(self, now: datetime) -> list[TaskRef]:
        """Open tasks whose due date has passed, marked once: their owners are reminded once each."""
        if self.step is Step.ON_HOLD:
            return []
        newly = [t for t in self.open_tasks if not t.overdue and t.due_at is not None and t.due_at <= now]
        for task in newly:
            task.overdue = True
        return newly

    @property
    def overdue_tasks(self) -> list[TaskRef]:
        return [t for t in self.open_tasks if t.overdue]

    def wind_down_finished(self) -> bool:
        return self.step is Step.WINDING_DOWN and not any(t.kind in WIND_DOWN_TASKS for t in self.open_tasks)

    def close(self) -> None:
        self.step = Step.CLOSED

    # --------------------------------------------------------- describing

    def awaiting(self) -> str:
        """What the partnership waits for, from whom, until when: one line for people."""
        owners = self.charter.governance.decision_owners
        reviewers = ", ".join(p.name for p in self.charter.governance.reviewers)
        if self.step in (Step.SIGNING, Step.RECOMMITMENT):
            what = "charter signatures" if self.step is Step.SIGNING else "re-commitment to Run"
            names = [owners.us.name if s is Side.US else owners.partner.name for s in self.unsigned_sides()]
            expiry = self.signing_deadlines()[2]
            return f"{what} from {' and '.join(names)} by {self._when(expiry)} (then it expires)"
        if self.step is Step.ON_HOLD and self.hold is not None:
            hold = self.hold
            return (
                f"nothing until {self._when(hold.until)}: on hold since {self._when(hold.since)} ({hold.reason}); "
                f"the {hold.label} reopens then"
            )
        if self.step is Step.GATE_REVIEW and self.review is not None:
            review = self.review
            if review.votes:
                pending = [p.name for p in self.charter.governance.reviewers if p.email in self.not_yet_voted()]
                reviewers = ", ".join(pending) or reviewers
                return (
                    f"votes on the {review.label} from {reviewers} by {self._when(review.remind_at)} "
                    f"({self.tally()}); undecided, it is escalated {self._when(review.escalate_at)} and decided by "
                    f"policy ({review.evaluation.recommendation.value}) {self._when(review.policy_at)}"
                )
            return (
                f"a decision on the {review.label} from {reviewers} by {self._when(review.remind_at)}; "
                f"undecided, it is escalated {self._when(review.escalate_at)} and decided by policy "
                f"({review.evaluation.recommendation.value}) {self._when(review.policy_at)}"
            )
        if self.step is Step.UNDERWAY and self.phase_ends_at is not None:
            opens = self._when(self.phase_ends_at)
            label = "QBR" if self.phase is Phase.RUN else f"{self.phase.value.capitalize()} gate review"
            missing = self.evidence_missing()
            if not missing:
                return f"the end of the period: the evidence is complete; the {label} opens {opens}"
            return f"{', '.join(missing)} (anyone named in the charter records it) before the {label} opens {opens}"
        if self.step is Step.WINDING_DOWN:
            return f"{len(self.open_tasks)} wind-down task(s) to finish"
        return "nothing: the partnership is closed"

    def evidence_missing(self) -> list[str]:
        """What the current period's gate still needs recorded, in people's words."""
        missing = []
        if self.phase is Phase.CRAWL:
            left = self.charter.timeline.crawl.pilot_customers - len(self.crawl.pilots)
            if left > 0:
                missing.append(f"results of {left} more pilot(s)")
            if self.crawl.integration_can_scale is None:
                missing.append("whether the integration can scale")
        elif self.phase is Phase.WALK:
            if self.walk.invited is None or self.walk.adopted is None:
                missing.append("customers invited and adopted")
            if self.walk.partner_promoting is None:
                missing.append("whether the partner is promoting")
            if self.walk.support_manageable is None:
                missing.append("whether support is manageable")
        elif self.phase is Phase.RUN and self.scorecard is None:
            missing.append("this quarter's scorecard")
        return missing

    def _when(self, at: datetime) -> str:
        return moment(at, seconds=self.time_scale.is_rehearsal)


def with_current_keys(new: Charter, current: Charter) -> Charter:
    """The amended charter with the keys people hold now: keys change by signed acts, not by editing."""
    held = {person.email: person.keys for person in current.people()}
    data = new.model_dump(mode="json")
    for person in people_in(data):
        if person["email"] in held:
            person["keys"] = list(held[person["email"]])
    return Charter.model_validate(data)
