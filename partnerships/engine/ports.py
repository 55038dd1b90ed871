"""What the activities need from the outside world, as small interfaces.

The adapters (`partnerships.adapters`) implement them; `worker.py` plugs them in. So
the engine never imports a database, a template engine or an HTTP client.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, Field

from partnerships.domain.lifecycle import TaskRef
from partnerships.engine.contracts import CreateTasksInput, StepRecord


class NewTask(BaseModel):
    """A task as the templates made it: the workflow keeps the reference, the store the rest."""

    ref: TaskRef
    partnership_id: str
    description: str
    created_at: datetime


class QueuedMessage(BaseModel):
    """A message in the outbox, rendered when its step was recorded."""

    key: str
    partnership_id: str
    kind: str
    audience: list[str]
    subject: str
    body: str
    notifier: str
    created_at: datetime
    context: dict[str, Any] = Field(default_factory=dict)
    # Delivery attempts that got as far as calling the notifier, this one included.
    attempts: int = 0


class Delivered(NamedTuple):
    """A message the notifier took: its key, the notifier's reference for it, and when."""

    key: str
    reference: str
    at: datetime


class RecordRefused(Exception):
    """The store cannot take this record, and writing it again will not help (a value the
    database rejects, a constraint): a person must fix the cause."""


class StoreBusy(RuntimeError):
    """The store stayed locked past the writer's patience: nothing was written, a retry may succeed."""


class SlugTaken(Exception):
    """The store holds an earlier partnership under this workflow id: a slug names one partnership for good."""


class Records(Protocol):
    """The store: a step written whole, and the outbox's messages delivered once each."""

    def write_step(
        self,
        step: StepRecord,
        tasks: list[NewTask],
        messages: list[QueuedMessage],
        wait_at_most: float | None = None,
        claim_outbox: bool = False,
    ) -> list[QueuedMessage]:
        """One transaction; a task or message an earlier attempt wrote is kept as it is. Returns
        the partnership's undelivered messages, oldest first; with `claim_outbox`, each is counted
        as attempted in the same commit (`begin_deliveries`), for the caller to deliver at once.

        Raises `SlugTaken` when the rows belong to another chain of runs, `RecordRefused`
        when the database rejects the record for a reason no retry can fix, and `StoreBusy`
        when the store stays locked longer than `wait_at_most` seconds (a retry may succeed).
        """
        ...

    def pending_message_keys(self, partnership_id: str) -> list[str]:
        """The partnership's messages still in the outbox, oldest first."""
        ...

    def begin_delivery(self, key: str) -> QueuedMessage | None:
        """Count one more attempt at the message; None when it is already delivered."""
        ...

    def begin_deliveries(self, partnership_id: str) -> list[QueuedMessage]:
        """`begin_delivery` for each of the partnership's undelivered messages, oldest first, at once."""
        ...

    def finish_delivery(self, key: str, reference: str, at: datetime) -> None: ...

    def finish_deliveries(self, delivered: Sequence[Delivered], untried: Sequence[str] = ()) -> None:
        """Mark the delivered messages, and take back the attempt counted for each untried one, at once."""
        ...


class TaskTemplates(Protocol):
    def tasks_for(self, request: CreateTasksInput) -> list[NewTask]:
        """The batch's tasks as the templates make them; ids are the batch key and the template key."""
        ...


class MessageTemplates(Protocol):
    def render(self, kind: str, facts: dict[str, Any], link: str) -> tuple[str, str]:
        """A message's subject and body."""
        ...
