"""The benchmark's own logic: how an Update's outcome is told apart, and the figures it reports."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from temporalio.api.common.v1 import GrpcStatus
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import bench.__main__ as bench_main
from bench import drive, history, measure, processes, report
from partnerships.engine.refusals import refusal


class FakeHandle:
    """Answers execute_update from a script: an exception to raise, or a value to return."""

    id = "partnership-bench-test"

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.update_ids: list[str] = []

    async def execute_update(self, update: Any, *, args: list[Any], id: str, rpc_timeout: Any) -> Any:
        self.update_ids.append(id)
        outcome = self.script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def _update() -> None: ...


def _send(handle: FakeHandle) -> tuple[Any, drive.UpdateStats]:
    sender = drive.UpdateSender(client=None)  # type: ignore[arg-type]  # the fake handle needs none
    result = asyncio.run(sender.send(handle, _update, []))  # type: ignore[arg-type]
    return result, sender.stats


def _not_ready_error() -> RPCError:
    detail = AnyProto(type_url="type.googleapis.com/temporal.api.errordetails.v1.WorkflowNotReadyFailure")
    status = GrpcStatus(code=RPCStatusCode.FAILED_PRECONDITION, message="not ready", details=[detail])
    return RPCError("not ready", RPCStatusCode.FAILED_PRECONDITION, status.SerializeToString())


def test_a_timed_out_update_is_sent_again_with_the_same_id_and_counted_as_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(drive, "POLL_SECONDS", 0)
    handle = FakeHandle(WorkflowUpdateRPCTimeoutOrCancelledError(), _not_ready_error(), "accepted")
    result, stats = _send(handle)
    assert result == "accepted"
    assert len(set(handle.update_ids)) == 1 and len(handle.update_ids) == 3
    assert (stats.timeouts, stats.not_ready, stats.refusals, stats.errors) == (1, 1, 0, 0)
    assert len(stats.latencies) == 1
    assert list(stats.by_update) == ["_update"]


def test_the_latency_of_each_update_name_is_reported_apart() -> None:
    stats = drive.UpdateStats()
    for seconds in (0.1, 0.2, 3.0):
        stats.record("decide", seconds)
    stats.record("exit", 0.5)
    latency = measure.UpdateLatency.of(stats)
    assert latency.p95_by_update == {"decide": (3.0, 3), "exit": (0.5, 1)}
    assert (latency.count, latency.max) == (4, 3.0)


def test_a_refusal_is_not_retried_and_is_not_a_timeout() -> None:
    handle = FakeHandle(WorkflowUpdateFailedError(refusal(["reason: too short"])))
    with pytest.raises(WorkflowUpdateFailedError):
        _send(handle)
    assert len(handle.update_ids) == 1


def test_a_handler_failure_is_counted_apart_from_refusals() -> None:
    sender = drive.UpdateSender(client=None)  # type: ignore[arg-type]
    handle = FakeHandle(WorkflowUpdateFailedError(ApplicationError("boom")), WorkflowUpdateFailedError(refusal(["x"])))
    for _ in range(2):
        with pytest.raises(WorkflowUpdateFailedError):
            asyncio.run(sender.send(handle, _update, []))  # type: ignore[arg-type]
    assert (sender.stats.errors, sender.stats.refusals, sender.stats.timeouts) == (1, 1, 0)


def test_other_rpc_errors_are_raised_at_once() -> None:
    handle = FakeHandle(RPCError("no", RPCStatusCode.INVALID_ARGUMENT, b""))
    with pytest.raises(RPCError):
        _send(handle)


def test_an_update_that_never_gets_an_outcome_fails_after_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drive, "POLL_SECONDS", 0)
    monkeypatch.setattr(drive, "UPDATE_BUDGET", 0)
    with pytest.raises(drive.UpdateTimedOut):
        _send(FakeHandle(WorkflowUpdateRPCTimeoutOrCancelledError()))


def test_latency_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert measure.percentile(values, 0.5) == 50
    assert measure.percentile(values, 0.95) == 95
    assert measure.percentile([3.0], 0.95) == 3
    assert measure.percentile([], 0.95) == 0
    stats = drive.UpdateStats(latencies=[0.1, 0.2, 0.3, 4.0], timeouts=2)
    latency = measure.UpdateLatency.of(stats)
    assert (latency.count, latency.p50, latency.max, latency.timeouts) == (4, 0.2, 4.0, 2)


def _pair(engine_p95: float, floor_p95: float) -> measure.Throughput:
    def latency(p95: float) -> measure.UpdateLatency:
        return measure.UpdateLatency.of(drive.UpdateStats(latencies=[p95]))

    return measure.Throughput(
        lifecycles=10,
        concurrency=5,
        seconds_per_week=0.5,
        review_window_seconds=60,
        lifecycle_seconds=20,
        skeleton_seconds=10,
        refused_decisions=0,
        policy_first=0,
        engine_updates=latency(engine_p95),
        skeleton_updates=latency(floor_p95),
        shortest_deadline_seconds=120,
    )


def test_the_pair_judged_is_the_one_with_the_median_update_p95_ratio() -> None:
    low, middle, high = _pair(1.0, 1.0), _pair(1.4, 1.0), _pair(3.0, 1.0)
    assert measure.median_pair([high, low, middle]) is middle
    assert measure.median_pair([high, low]) is high  # an even count: the worse middle one, not the better
    assert measure.median_pair([high]) is high


def test_every_pair_s_ratios_are_reported_in_the_order_run() -> None:
    row = report.pairs_row([_pair(3.0, 1.0), _pair(1.0, 1.0), _pair(1.4, 1.0)])
    assert row[3] == "3.00, 1.00, 1.40 (median 1.40); 0.50, 0.50, 0.50 (median 0.50)"
    assert (
        report.pairs_row([_pair(1.0, 1.0), _pair(2.0, 1.0)])[3] == "1.00, 2.00 (median 2.00); 0.50, 0.50 (median 0.50)"
    )


def test_the_cpu_a_process_spends_is_read_from_proc() -> None:
    before = processes.cpu_seconds(os.getpid())
    spin_until = time.process_time() + 0.05  # CPU time, not wall time: a busy machine only makes this longer
    while time.process_time() < spin_until:
        pass
    after = processes.cpu_seconds(os.getpid())
    assert before is not None and after is not None and after > before
    assert processes.cpu_seconds(2**22 + 1) is None  # above Linux's largest pid: no such process


def test_the_default_deadlines_outlast_a_slow_update_under_load() -> None:
    """A charter expires 180 days after it starts, and a review is decided by policy after twice its window,
    both paced by the rehearsal's review window: far longer than the 10 s Updates a busy 2-core machine showed."""
    scale = bench_main.lifecycle_scale()
    assert measure.shortest_deadline(scale) == 120  # the policy decision; the charter expires at 360 s
    assert scale.review_window_seconds is not None and 2 * scale.review_window_seconds >= 60
    opened = bench_main.open_scale(bench_main.DEFAULT_OPEN)
    assert opened.review_window_seconds is not None and opened.review_window_seconds >= 600


def test_a_retry_refused_for_its_spent_nonce_counts_as_landed_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt timed out but was applied, and the workflow continued as new: the retry reaches
    a run that does not know the Update id, whose validator refuses the nonce the first attempt spent."""
    monkeypatch.setattr(drive, "POLL_SECONDS", 0)
    spent = WorkflowUpdateFailedError(refusal([f"{drive.SPENT_NONCE}; each request is signed afresh"]))
    result, stats = _send(FakeHandle(WorkflowUpdateRPCTimeoutOrCancelledError(), spent))
    assert result is None
    assert (stats.landed_earlier, stats.refusals, stats.timeouts, len(stats.latencies)) == (1, 0, 1, 1)


def test_a_spent_nonce_on_the_first_attempt_is_a_refusal() -> None:
    spent = WorkflowUpdateFailedError(refusal([f"{drive.SPENT_NONCE}; each request is signed afresh"]))
    with pytest.raises(WorkflowUpdateFailedError):
        _send(FakeHandle(spent))


# ------------------------------------------------------------ the floor's shape

HISTORIES = Path(__file__).parents[1] / "histories"


def _events(*types: EventType.ValueType, marker: str = history.LOCAL_ACTIVITY_MARKER) -> list[HistoryEvent]:
    events = []
    for event_type in types:
        event = HistoryEvent(event_type=event_type)
        if event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            event.marker_recorded_event_attributes.marker_name = marker
        events.append(event)
    return events


TASK_DONE = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
ANSWERED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
MARKER = EventType.EVENT_TYPE_MARKER_RECORDED
TIMER = EventType.EVENT_TYPE_TIMER_STARTED


def test_an_update_counts_as_waiting_only_when_its_own_workflow_task_ran_a_local_activity() -> None:
    events = _events(
        TASK_DONE, ANSWERED, ANSWERED, TIMER,  # two answered by a task with no local activity
        TASK_DONE, ANSWERED, MARKER,  # one answered after the task's local activity
        TASK_DONE, MARKER,  # a local activity with no Update
        TASK_DONE, ANSWERED, MARKER, MARKER,  # the last task of the history counts too
    )  # fmt: skip
    assert history.updates_answered_after_local_activity(events) == 2
    patch_only = _events(TASK_DONE, ANSWERED, MARKER, marker="core_patch")
    assert history.updates_answered_after_local_activity(patch_only) == 0


def test_every_act_of_the_engine_is_answered_by_the_task_that_writes_its_record() -> None:
    """What the floor copies: in a recorded lifecycle, each Update waits for its step's local activity."""
    path = HISTORIES / "signing-through-first-qbr.json"
    events = list(WorkflowHistory.from_json("partnership-any", path.read_text(encoding="utf-8")).events)
    run = history.summarize(events)
    assert run.counts["updates"] > 5
    assert run.counts["updates_answered_after_local_activity"] == run.counts["updates"]


def _run(updates: int, local_activities: int, waiting: int, upserts: int = 1) -> history.RunHistory:
    counts = {
        "activities": 0,
        "timers": 0,
        "updates": updates,
        "upserts": upserts,
        "workflow_tasks": 0,
        "local_activities": local_activities,
        "updates_answered_after_local_activity": waiting,
    }
    return history.RunHistory(events=0, bytes=0, counts=counts, fired_timers=[])


def test_the_floor_makes_as_many_updates_wait_for_a_local_activity_and_upserts_as_often_as_the_reference() -> None:
    runs = [_run(updates=4, local_activities=3, waiting=3, upserts=7), _run(updates=2, local_activities=6, waiting=2)]
    plan = measure.skeleton_plan(runs, [2, 2, 2])
    stages = [stage for run in plan.runs for stage in run.stages]
    assert [s.updates for s in stages] == [2, 2, 2]
    # No stage makes more Updates wait than it has Updates or local activities.
    assert [s.answered_after_local_activity for s in stages] == [2, 1, 2]
    assert all(s.answered_after_local_activity <= min(s.updates, s.local_activities) for s in stages)
    # Each stage upserts its marker; the reference's other upserts are spread over its stages.
    assert [s.upserts for s in stages] == [3, 2, 0]
    earlier = measure.skeleton_plan(runs, [2, 2, 2], earlier=True)
    assert [s.answered_after_local_activity for r in earlier.runs for s in r.stages] == [0, 0, 0]
    assert [s.upserts for r in earlier.runs for s in r.stages] == [0, 0, 0]
    assert [s.local_activities for r in earlier.runs for s in r.stages] == [s.local_activities for s in stages]
