"""What a workflow leaves in Temporal's history, counted over every run of its continue-as-new chain."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

# The marker the SDK records for a local activity (patches record "core_patch" markers).
LOCAL_ACTIVITY_MARKER = "core_local_activity"

COUNTED = {
    "activities": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    "timers": EventType.EVENT_TYPE_TIMER_STARTED,
    "updates": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    "upserts": EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    "workflow_tasks": EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


@dataclass
class RunHistory:
    """One run: its events by type, and how long its timers that fired waited in total."""

    events: int
    bytes: int
    counts: dict[str, int]
    fired_timers: list[float]
    bytes_by_type: Counter[str] = field(default_factory=Counter)
    continued_as: str | None = None

    @property
    def fired_timer_seconds(self) -> float:
        return sum(self.fired_timers)

    @property
    def unfired_timers(self) -> int:
        """Timers started and then cancelled (the engine's deadlines that people beat), or left pending."""
        return self.counts["timers"] - len(self.fired_timers)


def _is_local_activity(event: HistoryEvent) -> bool:
    return (
        event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    )


def updates_answered_after_local_activity(events: list[HistoryEvent]) -> int:
    """Updates answered by a workflow task that also ran a local activity.

    The SDK sends a task's answers to the server only once the task's local activities are
    done, so such an Update waits for them: the engine's acts do (each is answered once its
    record is written). A task's commands and answers are the events after its
    WorkflowTaskCompleted, up to the next one."""
    answered = 0
    updates = markers = 0
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            answered += updates if markers else 0
            updates = markers = 0
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            updates += 1
        elif _is_local_activity(event):
            markers += 1
    return answered + (updates if markers else 0)


def _name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()


def summarize(events: list[HistoryEvent]) -> RunHistory:
    started: dict[str, timedelta] = {}
    fired: list[float] = []
    bytes_by_type: Counter[str] = Counter()
    continued_as = None
    for event in events:
        bytes_by_type[_name(event)] += event.ByteSize()
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            attributes = event.timer_started_event_attributes
            started[attributes.timer_id] = attributes.start_to_fire_timeout.ToTimedelta()
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fired.append(started[event.timer_fired_event_attributes.timer_id].total_seconds())
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            continued_as = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    types = Counter(event.event_type for event in events)
    counts = {name: types[event_type] for name, event_type in COUNTED.items()}
    counts["local_activities"] = sum(1 for event in events if _is_local_activity(event))
    counts["updates_answered_after_local_activity"] = updates_answered_after_local_activity(events)
    return RunHistory(
        events=len(events),
        bytes=sum(bytes_by_type.values()),
        counts=counts,
        fired_timers=fired,
        bytes_by_type=bytes_by_type,
        continued_as=continued_as,
    )


async def run_history(client: Client, workflow_id: str, run_id: str | None = None) -> RunHistory:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return summarize(list(history.events))


async def chain(client: Client, workflow_id: str, first_run_id: str) -> list[RunHistory]:
    """Every run from the first to the latest, following continue-as-new."""
    runs = [await run_history(client, workflow_id, first_run_id)]
    while runs[-1].continued_as is not None:
        runs.append(await run_history(client, workflow_id, runs[-1].continued_as))
    return runs


def total(runs: list[RunHistory], what: str) -> int:
    return sum(run.counts[what] for run in runs)
