"""The benchmark's own logic: how an Update's outcome is told apart, and the figures it reports."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from temporalio.api.common.v1 import GrpcStatus
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import bench.__main__ as bench_main
from bench import drive, measure
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
