"""The four measurements. Each returns plain figures; `bench.report` prints them."""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from temporalio.client import Client

from bench import drive, history
from bench.bare_list import bare_rows
from bench.history import RunHistory
from bench.processes import Memory, WorkerProcess, cpu_seconds
from bench.skeleton import SkeletonInput, SkeletonRun, Stage
from partnerships.adapters.config import REPO_ROOT
from partnerships.cli.render import rows_as_json
from partnerships.domain.lifecycle import TimeScale
from partnerships.service import commands as service

T = TypeVar("T")
# A timer of zero would not reach the server: the floor's timers last at least this long.
MIN_TIMER_SECONDS = 0.001
# How long an idle skeleton sleeps: far longer than the memory measurement.
IDLE_SECONDS = 3600.0


async def bounded(count: int, concurrency: int, one: Callable[[], Awaitable[T]]) -> tuple[float, list[T]]:
    """Run `one` `count` times, at most `concurrency` at once; wall-clock seconds and results."""
    gate = asyncio.Semaphore(concurrency)

    async def limited() -> T:
        async with gate:
            try:
                return await one()
            except Exception:
                # Said at once, with its traceback: the run then stops the others and cleans up,
                # which can take a while against a busy server.
                traceback.print_exc()
                raise

    began = time.perf_counter()
    # A task group, not gather: the first failure cancels the rest instead of leaving them
    # running against a server that is being stopped.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(limited()) for _ in range(count)]
    return time.perf_counter() - began, [task.result() for task in tasks]


# ------------------------------------------------------------ the floor


def _spread(total: int, parts: int) -> list[int]:
    share, rest = divmod(total, parts)
    return [share + (1 if i < rest else 0) for i in range(parts)]


def rounds_by_run(runs: list[RunHistory], rounds: list[int]) -> list[list[int]]:
    """The driver's rounds split across the reference's runs by the Updates each run accepted."""
    left = list(rounds)
    split = []
    for run in runs:
        wanted, stages = run.counts["updates"], []
        while wanted > 0:
            assert left, f"the reference accepted more Updates than the driver's {sum(rounds)}"
            taken = min(left[0], wanted)
            stages.append(taken)
            wanted -= taken
            left[0] -= taken
            if left[0] == 0:
                left.pop(0)
        split.append(stages or [0])
    assert not left, f"the driver sends {sum(rounds)} Updates, the reference accepted fewer"
    return split


def _capped(total: int, caps: list[int]) -> list[int]:
    """`total` handed out in order, no part over its cap."""
    parts = []
    for cap in caps:
        parts.append(min(cap, total))
        total -= parts[-1]
    return parts


def skeleton_plan(runs: list[RunHistory], rounds: list[int], *, earlier: bool = False) -> SkeletonInput:
    """The floor with the reference lifecycle's counts, run by run, in the driver's rounds.

    The timers that fired (the phase timers) are waited out, with the same durations, before
    the driver's next wait, where the engine's are; the others are started and cancelled. As
    many Updates as the reference answered after a local activity in the same workflow task
    wait for one of the floor's, and it upserts search attributes as often as the reference.
    `earlier`: the floor as the bench had it until 2026-12-03, which answered every Update
    before its local activities and upserted once a stage.
    """
    plan = []
    for run, updates in zip(runs, rounds_by_run(runs, rounds), strict=True):
        stages = len(updates)
        activities = _spread(run.counts["activities"], stages)
        local_activities = _spread(run.counts["local_activities"], stages)
        waiting = 0 if earlier else run.counts["updates_answered_after_local_activity"]
        answered_after = _capped(waiting, [min(u, la) for u, la in zip(updates, local_activities, strict=True)])
        # Each stage shows its marker: the reference's other upserts come on top.
        upserts = _spread(0 if earlier else max(run.counts["upserts"] - stages, 0), stages)
        cancelled = _spread(run.unfired_timers, stages)
        fired: list[list[float]] = [[] for _ in range(stages)]
        waits = max(stages - 1, 1)
        for i, seconds in enumerate(run.fired_timers):
            fired[min(i, waits - 1)].append(max(seconds, MIN_TIMER_SECONDS))
        plan.append(
            SkeletonRun(
                stages=[
                    Stage(
                        updates=u,
                        activities=a,
                        local_activities=la,
                        answered_after_local_activity=w,
                        upserts=up,
                        cancelled_timers=c,
                        timers=f,
                    )
                    for u, a, la, w, up, c, f in zip(
                        updates, activities, local_activities, answered_after, upserts, cancelled, fired, strict=True
                    )
                ]
            )
        )
    return SkeletonInput(runs=plan)


def idle_skeleton_plan(open_partnership: RunHistory) -> SkeletonInput:
    """An open partnership in Crawl, as the floor: its Updates and activities, then a long sleep."""
    stage = Stage(
        updates=2,
        activities=open_partnership.counts["activities"],
        local_activities=open_partnership.counts["local_activities"],
        answered_after_local_activity=open_partnership.counts["updates_answered_after_local_activity"],
        timers=[IDLE_SECONDS],
    )
    return SkeletonInput(runs=[SkeletonRun(stages=[stage])])


# ------------------------------------------------------------ throughput


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p95: fraction 0.95) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class UpdateLatency:
    """One side's Updates during the burst: seconds from the first attempt to the outcome."""

    count: int
    p50: float
    p95: float
    max: float
    timeouts: int
    not_ready: int
    refusals: int
    errors: int
    failed: int
    query_retries: int = 0
    landed_earlier: int = 0
    # p95 (and count) of each Update name.
    p95_by_update: dict[str, tuple[float, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, stats: drive.UpdateStats) -> UpdateLatency:
        values = stats.latencies
        return cls(
            count=len(values),
            p50=percentile(values, 0.5),
            p95=percentile(values, 0.95),
            max=max(values, default=0.0),
            timeouts=stats.timeouts,
            not_ready=stats.not_ready,
            refusals=stats.refusals,
            errors=stats.errors,
            failed=stats.failed,
            query_retries=stats.query_retries,
            landed_earlier=stats.landed_earlier,
            p95_by_update={name: (percentile(seen, 0.95), len(seen)) for name, seen in sorted(stats.by_update.items())},
        )


@dataclass
class EarlierFloor:
    seconds: float
    updates: UpdateLatency


@dataclass
class BurstCpu:
    worker_seconds: float | None
    server_seconds: float | None


class CpuMeter:
    """CPU seconds a worker process and the server spend from `start` to `stop` (Linux /proc)."""

    def __init__(self, worker: WorkerProcess, server_pid: int | None) -> None:
        self._worker, self._server_pid = worker, server_pid
        self._pid = 0
        self._worker_at: float | None = None
        self._server_at: float | None = None

    def start(self) -> None:
        self._pid = self._worker.pid
        self._worker_at = cpu_seconds(self._pid)
        self._server_at = None if self._server_pid is None else cpu_seconds(self._server_pid)

    def stop(self) -> BurstCpu:
        # A worker replaced during the burst (bench.processes._supervise) took CPU this one cannot see.
        same_worker = self._worker.pid == self._pid
        return BurstCpu(
            worker_seconds=_spent(self._worker_at, cpu_seconds(self._pid)) if same_worker else None,
            server_seconds=None if self._server_pid is None else _spent(self._server_at, cpu_seconds(self._server_pid)),
        )


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


@dataclass
class Throughput:
    lifecycles: int
    concurrency: int
    seconds_per_week: float
    review_window_seconds: float | None
    lifecycle_seconds: float
    skeleton_seconds: float
    refused_decisions: int
    policy_first: int
    engine_updates: UpdateLatency
    skeleton_updates: UpdateLatency
    # The shortest deadline the driver can miss while it waits on the server: a charter expires
    # unsigned this long after it starts (both signatures must land before).
    shortest_deadline_seconds: float
    # The floor that answers every Update before its local activities, in the same run (shown
    # beside the targets, which are against the floor that waits as the engine's acts do).
    earlier_floor: EarlierFloor | None = None
    # CPU seconds each burst cost its worker process and the server: what the latency ratio
    # follows once the machine is busy. None where a process is not the bench's to read.
    engine_cpu: BurstCpu | None = None
    floor_cpu: BurstCpu | None = None

    @property
    def update_p95_ratio(self) -> float:
        return self.engine_updates.p95 / self.skeleton_updates.p95 if self.skeleton_updates.p95 else math.inf

    @property
    def deadline_margin(self) -> float:
        """How many times the slowest Update (either side) fits in the shortest deadline."""
        slowest = max(self.engine_updates.max, self.skeleton_updates.max)
        return self.shortest_deadline_seconds / slowest if slowest else math.inf

    @property
    def lifecycles_per_second(self) -> float:
        return self.lifecycles / self.lifecycle_seconds

    @property
    def skeletons_per_second(self) -> float:
        return self.lifecycles / self.skeleton_seconds

    @property
    def ratio(self) -> float:
        return self.lifecycles_per_second / self.skeletons_per_second

    @property
    def earlier_floor_per_second(self) -> float:
        return self.lifecycles / self.earlier_floor.seconds if self.earlier_floor else math.nan

    @property
    def ratio_to_earlier_floor(self) -> float:
        return self.lifecycles_per_second / self.earlier_floor_per_second

    @property
    def update_p95_ratio_to_earlier_floor(self) -> float:
        if self.earlier_floor is None:
            return math.nan
        p95 = self.earlier_floor.updates.p95
        return self.engine_updates.p95 / p95 if p95 else math.inf


async def reference_lifecycle(client: Client, worker: WorkerProcess, scale: TimeScale, qbrs: int) -> list[RunHistory]:
    """One lifecycle alone on an idle worker: the counts the floor copies, and the history figures."""
    workflow_id, first_run = await drive.full_lifecycle(client, worker.task_queue, scale, qbrs, drive.Anomalies())
    return await history.chain(client, workflow_id, first_run)


def shortest_deadline(scale: TimeScale) -> float:
    """Seconds until the first deadline that could pre-empt the driver's act: the charter's expiry
    or a review's decision by policy (twice its window), as the workflow computes them."""
    charter = drive.bench_charter()
    window_days = charter.governance.review_window_days
    expiry = scale.time_to_respond(charter.signing.expire_after_days, window_days)
    policy = scale.review_window(window_days) * 2
    return min(expiry, policy).total_seconds()


async def lifecycles_vs_floor(
    client: Client,
    engine: WorkerProcess,
    floor: WorkerProcess,
    plan: SkeletonInput,
    *,
    count: int,
    concurrency: int,
    scale: TimeScale,
    qbrs: int,
    earlier_plan: SkeletonInput | None = None,
    server_pid: int | None = None,
) -> tuple[Throughput, list[tuple[str, str]]]:
    """The engine's lifecycles, then as many of the floor's, then (with `earlier_plan`) as many
    of the earlier floor's, each burst `concurrency` at a time on its own."""
    anomalies = drive.Anomalies()
    engine_stats, skeleton_stats, earlier_stats = drive.reset_stats(client)
    # Read only with the bench's own server (`server_pid`), where each side has one worker: on the
    # cluster the server is shared and each side has two.
    metered = server_pid is not None
    engine_meter, floor_meter = CpuMeter(engine, server_pid), CpuMeter(floor, server_pid)
    engine_meter.start()
    lifecycle_seconds, lifecycles = await bounded(
        count, concurrency, lambda: drive.full_lifecycle(client, engine.task_queue, scale, qbrs, anomalies)
    )
    engine_cpu = engine_meter.stop()
    floor_meter.start()
    skeleton_seconds, _ = await bounded(count, concurrency, lambda: drive.full_skeleton(client, floor.task_queue, plan))
    floor_cpu = floor_meter.stop()
    earlier = None
    if earlier_plan is not None:
        earlier_seconds, _ = await bounded(
            count,
            concurrency,
            lambda: drive.full_skeleton(client, floor.task_queue, earlier_plan, drive.EARLIER_FLOOR),
        )
        earlier = EarlierFloor(seconds=earlier_seconds, updates=UpdateLatency.of(earlier_stats))
    figures = Throughput(
        lifecycles=count,
        concurrency=concurrency,
        seconds_per_week=scale.seconds_per_week,
        review_window_seconds=scale.review_window_seconds,
        lifecycle_seconds=lifecycle_seconds,
        skeleton_seconds=skeleton_seconds,
        refused_decisions=len(anomalies.refused),
        policy_first=len(anomalies.policy_first),
        engine_updates=UpdateLatency.of(engine_stats),
        skeleton_updates=UpdateLatency.of(skeleton_stats),
        shortest_deadline_seconds=shortest_deadline(scale),
        earlier_floor=earlier,
        engine_cpu=engine_cpu if metered else None,
        floor_cpu=floor_cpu if metered else None,
    )
    return figures, lifecycles


async def bursts_vs_floor(
    client: Client,
    engine: WorkerProcess,
    floor: WorkerProcess,
    plan: SkeletonInput,
    *,
    pairs: int,
    count: int,
    concurrency: int,
    scale: TimeScale,
    qbrs: int,
    earlier_plan: SkeletonInput | None = None,
    server_pid: int | None = None,
) -> tuple[list[Throughput], list[tuple[str, str]]]:
    """`lifecycles_vs_floor` `pairs` times on the same workers (the earlier floor in the first
    pair only): one pair's ratios move with how its lockstep waves happen to line up, so the
    report judges the median pair. The lifecycles are the first pair's."""
    figures: list[Throughput] = []
    lifecycles: list[tuple[str, str]] = []
    for number in range(pairs):
        pair, ran = await lifecycles_vs_floor(
            client,
            engine,
            floor,
            plan,
            count=count,
            concurrency=concurrency,
            scale=scale,
            qbrs=qbrs,
            earlier_plan=earlier_plan if number == 0 else None,
            server_pid=server_pid,
        )
        figures.append(pair)
        lifecycles = lifecycles or ran
    return figures, lifecycles


def median_pair(pairs: list[Throughput]) -> Throughput:
    """The pair whose Update p95 ratio is the median (of an even count, the worse middle one)."""
    ordered = sorted(pairs, key=lambda pair: pair.update_p95_ratio)
    return ordered[len(ordered) // 2]


# ------------------------------------------------------------- history


@dataclass
class HistorySize:
    reference_runs: list[RunHistory]
    skeleton_runs: list[RunHistory]
    sampled_events: list[int]
    sampled_activities: list[int]
    long_quarters: int
    long_runs: list[RunHistory]

    @property
    def events_per_lifecycle(self) -> int:
        return sum(run.events for run in self.reference_runs)

    @property
    def bytes_per_lifecycle(self) -> int:
        return sum(run.bytes for run in self.reference_runs)

    @property
    def long_current_run_events(self) -> int:
        return self.long_runs[-1].events

    @property
    def long_max_run_events(self) -> int:
        return max(run.events for run in self.long_runs)

    def bytes_by_type(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for run in self.reference_runs:
            counts.update(run.bytes_by_type)
        return counts


async def sample_histories(client: Client, lifecycles: list[tuple[str, str]], size: int) -> list[list[RunHistory]]:
    return [await history.chain(client, workflow_id, run_id) for workflow_id, run_id in lifecycles[:size]]


async def long_partnership(client: Client, worker: WorkerProcess, scale: TimeScale, quarters: int) -> list[RunHistory]:
    """A partnership that has held `quarters` QBRs in Run: every run of it, the latest last."""
    anomalies = drive.Anomalies()
    charter, handle = await drive.start(client, worker.task_queue, scale)
    await drive.into_run(client, charter, anomalies)
    for _ in range(quarters):
        await drive.hold_qbr(client, charter, anomalies)
    assert handle.first_execution_run_id is not None
    return await history.chain(client, charter.workflow_id, handle.first_execution_run_id)


# -------------------------------------------------------------- memory


@dataclass
class WorkerMemory:
    open_workflows: int
    engine_baseline: Memory
    engine_loaded: Memory
    floor_baseline: Memory
    floor_loaded: Memory
    max_cached_workflows: int
    seconds_per_week: float
    setup_seconds: float

    def _per_workflow_kib(self, baseline: Memory, loaded: Memory) -> float:
        return (loaded.peak_mib - baseline.rss_mib) * 1024 / self.open_workflows

    @property
    def engine_kib_per_workflow(self) -> float:
        return self._per_workflow_kib(self.engine_baseline, self.engine_loaded)

    @property
    def floor_kib_per_workflow(self) -> float:
        return self._per_workflow_kib(self.floor_baseline, self.floor_loaded)

    @property
    def ratio(self) -> float:
        return self.engine_kib_per_workflow / self.floor_kib_per_workflow


# An activity that keeps failing (a store that stays busy) would keep a workflow unsettled for good.
SETTLE_TIMEOUT = 120.0


async def settled(client: Client, workflow_ids: list[str]) -> None:
    """Wait until the last workflows started have no activity left to run: the worker is at rest."""
    deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
    for workflow_id in workflow_ids[-5:]:
        handle = client.get_workflow_handle(workflow_id)
        while (await handle.describe()).raw_description.pending_activities:
            if asyncio.get_running_loop().time() > deadline:
                print(f"{workflow_id} still has activities pending after {SETTLE_TIMEOUT:.0f} s", file=sys.stderr)
                break
            await asyncio.sleep(0.2)
    await asyncio.sleep(2)


async def open_partnerships(
    client: Client, engine: WorkerProcess, count: int, concurrency: int, scale: TimeScale, started: list[str]
) -> float:
    """Seconds to open `count` in Crawl; their ids go into `started` as each one starts."""
    seconds, workflow_ids = await bounded(
        count, concurrency, lambda: drive.open_in_crawl(client, engine.task_queue, scale, started)
    )
    await settled(client, workflow_ids)
    return seconds


async def open_skeletons(
    client: Client, floor: WorkerProcess, plan: SkeletonInput, count: int, concurrency: int, started: list[str]
) -> None:
    """`count` idle skeletons; their ids go into `started` as each one starts."""
    _, workflow_ids = await bounded(
        count, concurrency, lambda: drive.open_skeleton(client, floor.task_queue, plan, started)
    )
    await settled(client, workflow_ids)


# ----------------------------------------------------------- portfolio


@dataclass
class Portfolio:
    phase: str
    expected_rows: int
    cli_rows: int
    bare_rows: int
    cli_subprocess_seconds: float
    bare_subprocess_seconds: float
    cli_in_process_seconds: float
    bare_in_process_seconds: float
    repeats: int

    @property
    def subprocess_ratio(self) -> float:
        return self.cli_subprocess_seconds / self.bare_subprocess_seconds

    @property
    def in_process_ratio(self) -> float:
        return self.cli_in_process_seconds / self.bare_in_process_seconds


SUBPROCESS_ATTEMPTS = 3


async def _timed_subprocess(command: list[str], environment: dict[str, str]) -> tuple[float, int]:
    for _ in range(SUBPROCESS_ATTEMPTS):
        began = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command, cwd=REPO_ROOT, env=environment, stdout=asyncio.subprocess.PIPE
        )
        output, _ = await process.communicate()
        elapsed = time.perf_counter() - began
        if process.returncode == 0:
            return elapsed, len(json.loads(output))
        # Seen once on this machine: a segfault (-11) while the SDK's runtime shuts down. Timed again.
        print(f"{command[0]} ... exited with {process.returncode}; timing it again", file=sys.stderr)
    raise RuntimeError(f"{' '.join(command)} failed {SUBPROCESS_ATTEMPTS} times")


async def _timed(call: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    began = time.perf_counter()
    rows = await call()
    return time.perf_counter() - began, rows


VISIBILITY_WAIT_SECONDS = 60.0


async def visible_in_phase(client: Client, phase: str, expected: int) -> int:
    """Visibility trails the workflows by a few seconds under load: wait until it shows them all."""
    deadline = asyncio.get_running_loop().time() + VISIBILITY_WAIT_SECONDS
    while True:
        seen = len(await bare_rows(client, phase))
        if seen >= expected or asyncio.get_running_loop().time() > deadline:
            return seen
        await asyncio.sleep(1)


async def portfolio_queries(
    client: Client, address: str, expected_rows: int, repeats: int, *, phase: str = "walk"
) -> Portfolio:
    """The CLI against the bare query, both as subprocesses (what a person waits for) and in-process.

    Interleaved, median of `repeats`, so a burst of load elsewhere on the machine hits both sides.
    """
    await visible_in_phase(client, phase, expected_rows)
    environment = {**os.environ, "TEMPORAL_ADDRESS": address}
    cli = [str(Path(sys.executable).parent / "partnerships"), "list", "--phase", phase, "--json"]
    bare = [sys.executable, "-m", "bench.bare_list", "--address", address, "--phase", phase]

    # In-process, each side also renders its JSON: printing it is part of the command's cost.
    async def cli_in_process() -> int:
        rows = await service.list_partnerships(client, phase=phase)
        rows_as_json(rows)
        return len(rows)

    async def bare_in_process() -> int:
        rows = await bare_rows(client, phase)
        json.dumps(rows, indent=2)
        return len(rows)

    timings: dict[str, list[float]] = {"cli": [], "bare": [], "cli_in": [], "bare_in": []}
    rows: dict[str, int] = {}
    for _ in range(repeats):
        for name, measured in (
            ("cli", _timed_subprocess(cli, environment)),
            ("bare", _timed_subprocess(bare, environment)),
            ("cli_in", _timed(cli_in_process)),
            ("bare_in", _timed(bare_in_process)),
        ):
            seconds, rows[name] = await measured
            timings[name].append(seconds)
    median = {name: statistics.median(values) for name, values in timings.items()}
    return Portfolio(
        phase=phase,
        expected_rows=expected_rows,
        cli_rows=rows["cli"],
        bare_rows=rows["bare"],
        cli_subprocess_seconds=median["cli"],
        bare_subprocess_seconds=median["bare"],
        cli_in_process_seconds=median["cli_in"],
        bare_in_process_seconds=median["bare_in"],
        repeats=repeats,
    )


async def move_into_walk(client: Client, workflow_ids: list[str], concurrency: int, crawl_seconds: float) -> int:
    anomalies = drive.Anomalies()
    pending = iter(workflow_ids)
    await bounded(
        len(workflow_ids), concurrency, lambda: drive.into_walk(client, next(pending), anomalies, crawl_seconds)
    )
    # A refused go either went through again with a reason or was a go by policy (into_walk raises otherwise).
    return len(workflow_ids)


def unique_queue(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:8]}"
