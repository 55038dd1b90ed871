"""Inputs and results that cross the Temporal boundary: workflow, activities, queries.

Small on purpose: each one lands in a workflow history, so they carry ids and the
few facts an activity needs, not whole charters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from partnerships.domain.charter import Charter
from partnerships.domain.gates import GateEvaluation
from partnerships.domain.lifecycle import GateReview, Partnership, TaskKind, TaskRef, TimeScale
from partnerships.domain.views import PartnershipSnapshot
from partnerships.engine.proofs import Doors


class ActivityName:
    """Activity types, shared by their definitions and the workflow that schedules them by
    name, so that workflow code (and the CLI that imports it) never loads the store."""

    # Everything one step of a partnership leaves in the store, in one call.
    RECORD_STEP = "record_step"
    # Messages that could not go out at once, delivered from the store's outbox.
    DELIVER_PENDING_NOTIFICATIONS = "deliver_pending_notifications"


class StartPartnership(BaseModel):
    """The workflow's input. `resume` is set only when the workflow continues as new."""

    model_config = ConfigDict(extra="forbid")

    charter: Charter | None = None
    time_scale: TimeScale = TimeScale()
    resume: Partnership | None = None
    # Reminders, escalations and expiries already acted on (carried over continue-as-new).
    fired: list[str] = Field(default_factory=list, max_length=10_000)
    # A run in Run continues as new at the first quarter boundary past this many events.
    # A quarter adds about 20, so no run grows much beyond it however many years it lasts.
    run_history_limit: int = Field(default=200, ge=1)
    # In any phase, a run continues as new at its next quiet moment past this many events:
    # people correcting evidence thousands of times never bring a run near Temporal's limits.
    history_limit: int = Field(default=2_000, ge=100, le=20_000)
    # A step the store refused for good (a data error) is tried again this often.
    record_retry_seconds: float = Field(default=600, ge=0.1, le=86_400)
    # The doors (Slack app, signing links) whose word this partnership takes for who acted.
    doors: Doors = Doors()
    # Spent nonces and when each may be forgotten, carried over continue-as-new so that a
    # signed request or a link acts once.
    recent_nonces: dict[str, AwareDatetime] = Field(default_factory=dict, max_length=10_000)
    # How long a step's record may try as a local activity (holding its workflow task) before
    # it goes on as a regular activity, retried without limit.
    local_record_seconds: float = Field(default=60, ge=1, le=600)

    @classmethod
    def read(cls, data: bytes, workflow_id: str, *, continued: bool) -> tuple[StartPartnership, list[str]]:
        """The input as workflow `workflow_id` received it, and why it cannot run (empty when it can)."""
        try:
            start = cls.model_validate_json(data)
        except ValidationError as error:
            return cls(), [f"{'.'.join(str(part) for part in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()]
        return start, start.problems(workflow_id, continued=continued)

    def problems(self, workflow_id: str, *, continued: bool) -> list[str]:
        """Why this input cannot run as workflow `workflow_id`; empty when it can."""
        if self.resume is not None and not continued:
            return ["resume: a partnership's state is carried only by its own continue-as-new"]
        charter = self.resume.charter if self.resume is not None else self.charter
        if charter is None:
            return ["charter: a new partnership needs its charter"]
        if charter.workflow_id != workflow_id:
            return [f"charter.slug: '{charter.slug}' belongs to workflow {charter.workflow_id}, not {workflow_id}"]
        return []


class PartnershipOutcome(BaseModel):
    workflow_id: str
    phase: str
    end_reason: str | None
    quarters_in_run: int


class PartnershipStatus(BaseModel):
    """What `status` shows: the state plus the gate as it would be judged right now."""

    partnership: Partnership
    current_gate: GateEvaluation | None
    awaiting: str
    # Set while the store refuses this partnership's record: what went wrong, for a person.
    record_problem: str | None = None


class DecisionAccepted(BaseModel):
    review_id: str
    outcome: str
    summary: str
    phase: str
    step: str
    # False while the gate's quorum has not agreed: the vote is recorded, the review stays open.
    decided: bool = True
    tally: str = ""


class Acknowledged(BaseModel):
    summary: str
    phase: str
    step: str


class ConditionTask(BaseModel):
    """A condition of a go, made into a task as it stands (not from a template)."""

    id: str
    title: str
    owner: str
    due_at: datetime


class TaskContext(BaseModel):
    partner: str
    slug: str
    phase_label: str
    pilot_customers: int
    invited_customers: int
    metric: str
    quarter: int
    owners: dict[str, str]
    reason: str | None = None


class CreateTasksInput(BaseModel):
    batch_key: str
    kind: TaskKind
    partnership_id: str
    context: TaskContext
    created_at: datetime
    time_scale: TimeScale
    conditions: list[ConditionTask] = Field(default_factory=list)

    @classmethod
    def for_partnership(cls, p: Partnership, kind: TaskKind, reason: str | None, now: datetime) -> CreateTasksInput:
        """The batch of `kind` tasks the partnership calls for now, with the facts their templates use."""
        charter = p.charter
        owners = charter.governance.decision_owners
        return cls(
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
            created_at=now,
            time_scale=p.time_scale,
        )


class CloseTasksInput(BaseModel):
    task_ids: list[str]
    status: str
    by: str
    at: datetime


class Recipient(BaseModel):
    name: str
    email: str
    slack_user_id: str | None = None


class SendNotificationInput(BaseModel):
    key: str
    kind: str
    partnership_id: str
    audience: list[Recipient]
    context: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime
    # Lists the tasks created in this batch of the same step (filled in by the store).
    task_batch: str | None = None


class ActRecord(BaseModel):
    """An accepted act with its proof, as the store keeps it beside the history: who, what, how."""

    nonce: str
    update: str
    actor: str
    door: str
    key_fingerprint: str
    signed_at: datetime
    accepted_at: datetime
    request_json: str
    proof_json: str


class StepRecord(BaseModel):
    """Everything one step of a partnership leaves in the store, written by one activity.

    Each part is idempotent by its own key, so a retried or repeated record changes nothing.
    """

    partnership_id: str
    # The run that started this partnership: its rows belong to this chain of runs only,
    # so a slug used again after the first partnership is gone never writes into its record.
    chain_id: str
    snapshot: PartnershipSnapshot | None = None
    reviews: list[GateReview] = Field(default_factory=list)
    closed_tasks: list[CloseTasksInput] = Field(default_factory=list)
    new_tasks: list[CreateTasksInput] = Field(default_factory=list)
    notifications: list[SendNotificationInput] = Field(default_factory=list)
    acts: list[ActRecord] = Field(default_factory=list)
    # False while earlier notifications still wait in the outbox: they must go out first.
    deliver: bool = True

    def is_empty(self) -> bool:
        return not (
            self.snapshot or self.reviews or self.closed_tasks or self.new_tasks or self.notifications or self.acts
        )

    def add_review(self, review: GateReview) -> None:
        """The latest copy of a review wins."""
        self.reviews = [r for r in self.reviews if r.id != review.id] + [review]

    def add_tasks(self, request: CreateTasksInput) -> None:
        """A batch is created once, however often it is asked for."""
        if all(b.batch_key != request.batch_key for b in self.new_tasks):
            self.new_tasks.append(request)

    def add_message(self, message: SendNotificationInput) -> None:
        """A message is sent once, however often it is asked for (two acts racing to end a partnership)."""
        if all(m.key != message.key for m in self.notifications):
            self.notifications.append(message)

    def followed_by(self, later: StepRecord) -> StepRecord:
        """This step and a later one as one record, in order: for a step that must be written again."""
        merged = self.model_copy(deep=True)
        merged.snapshot = later.snapshot or self.snapshot
        for review in later.reviews:
            merged.add_review(review)
        merged.closed_tasks += later.closed_tasks
        for batch in later.new_tasks:
            merged.add_tasks(batch)
        for message in later.notifications:
            merged.add_message(message)
        merged.acts += [act for act in later.acts if act.nonce not in {a.nonce for a in merged.acts}]
        return merged


class StepRecorded(BaseModel):
    tasks: list[TaskRef] = Field(default_factory=list)
    # Notifications left in the outbox: the notifier was down, or is misconfigured.
    undelivered: int = 0
    notifier_misconfigured: str | None = None


# The ApplicationError type of a step the store refused for good (a constraint or a value
# the database rejects): retrying the same write cannot help until a person fixes the cause.
RECORD_REFUSED = "RecordRefused"
# The ApplicationError type of a record whose workflow id the store holds for an earlier
# partnership: the new one cannot have a record of its own, and fails at once.
SLUG_TAKEN = "SlugTaken"
