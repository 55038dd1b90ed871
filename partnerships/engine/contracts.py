"""Inputs and results that cross the Temporal boundary: workflow, activities, queries.

Small on purpose: each one lands in a workflow history, so they carry ids and the
few facts an activity needs, not whole charters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from partnerships.domain.charter import Charter
from partnerships.domain.gates import GateEvaluation
from partnerships.domain.lifecycle import GateReview, Partnership, TaskKind, TaskRef, TimeScale
from partnerships.domain.views import PartnershipSnapshot


class ActivityName:
    """Activity types, shared by their definitions and the workflow that schedules them by
    name, so that workflow code (and the CLI that imports it) never loads the store."""

    # Everything one step of a partnership leaves in the store, in one call.
    RECORD_STEP = "record_step"
    # Messages that could not go out at once, delivered from the store's outbox.
    DELIVER_PENDING_NOTIFICATIONS = "deliver_pending_notifications"


class StartPartnership(BaseModel):
    """The workflow's input. `resume` is set only when the workflow continues as new."""

    charter: Charter | None = None
    time_scale: TimeScale = TimeScale()
    resume: Partnership | None = None
    # A run in Run continues as new at the first quarter boundary past this many events.
    # A quarter adds about 20, so no run grows much beyond it however many years it lasts.
    run_history_limit: int = Field(default=200, ge=1)


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


class DecisionAccepted(BaseModel):
    review_id: str
    outcome: str
    summary: str
    phase: str
    step: str


class Acknowledged(BaseModel):
    summary: str
    phase: str
    step: str


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


class StepRecord(BaseModel):
    """Everything one step of a partnership leaves in the store, written by one activity.

    Each part is idempotent by its own key, so a retried or repeated record changes nothing.
    """

    partnership_id: str
    snapshot: PartnershipSnapshot | None = None
    reviews: list[GateReview] = Field(default_factory=list)
    closed_tasks: list[CloseTasksInput] = Field(default_factory=list)
    new_tasks: list[CreateTasksInput] = Field(default_factory=list)
    notifications: list[SendNotificationInput] = Field(default_factory=list)
    # False while earlier notifications still wait in the outbox: they must go out first.
    deliver: bool = True

    def is_empty(self) -> bool:
        return not (self.snapshot or self.reviews or self.closed_tasks or self.new_tasks or self.notifications)


class StepRecorded(BaseModel):
    tasks: list[TaskRef] = Field(default_factory=list)
    # Notifications left in the outbox: the notifier was down, or is misconfigured.
    undelivered: int = 0
    notifier_misconfigured: str | None = None
