"""python -m bench --cluster [--quick] [--json]: the figures on a running cluster, two workers a side.

Reads where the cluster is from the environment, as the engine's own workers do:
TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE), DATABASE_URL for the engine's store (PostgreSQL);
`eval "$(python -m devtools.cluster env)"` sets them for the cluster `make cluster` runs.
BENCH_DATABASE_URL, when set, keeps the bench's partnership rows in a database of their own.

The bench does not use the cluster's own workers: it starts two engine worker processes and two
skeleton worker processes of its own, each pair on a task queue of its own (bench-...-<random>),
and every workflow it starts has an id beginning `partnership-bench-c...` or `bench-c...-skeleton-`
so nothing it does can be mistaken for the cluster's partnerships. The open partnerships and
idle skeletons it leaves are terminated at the end.

1. lifecycles per second against the skeleton, both on the cluster, with Update latency;
2. worker memory per open partnership with 10,000 open (summed over both engine workers)
   against the skeleton's with 10,000 idle skeletons (both skeleton workers);
3. the time for restarted workers to resume all 10,000: both engine workers are killed
   (SIGKILL), two fresh ones start, and every partnership answers a status query, which a
   fresh worker can only do by replaying its history;
4. `partnerships list --phase crawl --json` over the 10,000 (all in Crawl) against the bare query.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from bench import drive, measure
from bench.processes import Memory, WorkerProcess, memory_of, run_to_the_end, worker_process
from bench.report import Options, Results, by_update, earlier_floor_rows, pairs_row
from partnerships.adapters.config import Settings
from partnerships.adapters.temporal_client import make_client
from partnerships.domain.lifecycle import TimeScale

# The targets on the cluster.
MIN_THROUGHPUT_RATIO = 0.8
MAX_MEMORY_RATIO = 1.1
MAX_PORTFOLIO_RATIO = 1.3
MAX_UPDATE_P95_RATIO = 1.5

WORKERS_PER_SIDE = 2
DEFAULT_OPEN = 10_000
DEFAULT_LIFECYCLES = 200
PORTFOLIO_REPEATS = 5
# A week of the open partnerships. Unlike the embedded bench, this one never waits for their
# Crawl to end (it lists them in Crawl): the first due date of Crawl's kickoff tasks (a week in)
# must come after the whole open load (opening, the skeletons, the restart, the list: under an
# hour here), so every partnership is measured in the same state. With weeks paced to the opening
# rate (232 s), a run of 2026-12-02 that opened at 8 a second instead of 12 had the first
# partnerships waking for their due dates while the rest opened, each a replay on the shared
# queue, until a first signature waited 300 s behind them and the run stopped; the run before
# read memory with the first ones 3.6 weeks in, past those due dates.
OPEN_SECONDS_PER_WEEK = 2 * 3600.0

err = Console(stderr=True)


def progress(message: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] [cluster] {message}")


@dataclass
class Target:
    address: str
    namespace: str
    database_url: str


def target_from_environment() -> Target:
    settings = Settings()
    if not os.environ.get("TEMPORAL_ADDRESS") or not settings.database_url:
        raise SystemExit(
            "bench --cluster needs TEMPORAL_ADDRESS and DATABASE_URL: "
            'run `eval "$(python -m devtools.cluster env)"` first (the cluster `make cluster` started)'
        )
    return Target(
        address=settings.temporal_address,
        namespace=settings.temporal_namespace,
        database_url=os.environ.get("BENCH_DATABASE_URL") or settings.database_url,
    )


@dataclass
class Pool:
    """Worker processes of one side, all polling one task queue."""

    processes: list[WorkerProcess]

    @property
    def task_queue(self) -> str:
        return self.processes[0].task_queue

    @property
    def first(self) -> WorkerProcess:
        return self.processes[0]

    def memory(self) -> Memory:
        """Summed over the pool: resident now, and the sum of each process's peak."""
        readings = [memory_of(p.pid) for p in self.processes]
        return Memory(rss_mib=sum(m.rss_mib for m in readings), peak_mib=sum(m.peak_mib for m in readings))

    async def kill(self) -> None:
        await asyncio.gather(*(worker.kill() for worker in self.processes))


@contextlib.asynccontextmanager
async def pool(side: str, task_queue: str, target: Target, count: int = WORKERS_PER_SIDE) -> AsyncIterator[Pool]:
    async with contextlib.AsyncExitStack() as stack:
        processes = [
            await stack.enter_async_context(worker_process(side, task_queue, target.address, target.database_url))
            for _ in range(count)
        ]
        yield Pool(processes)


@dataclass
class Resume:
    open_workflows: int
    # From SIGKILL of both engine workers to both fresh ones polling.
    workers_ready_seconds: float
    # From the fresh workers polling to the last partnership answering its status query.
    all_resumed_seconds: float
    concurrency: int
    # Status queries that timed out (the partnership not replayed in time) and were asked again.
    queries_asked_again: int = 0


@dataclass
class ClusterResults:
    results: Results
    resume: Resume | None = None
    terminated: int = 0


async def throughput(client: Client, target: Target, options: Options, results: Results) -> None:
    scale = _main().lifecycle_scale()
    async with (
        pool("partnership", measure.unique_queue("cluster-engine"), target) as engine,
        pool("skeleton", measure.unique_queue("cluster-floor"), target) as floor,
    ):
        progress(f"reference lifecycle (alone), {WORKERS_PER_SIDE} workers a side")
        reference = await measure.reference_lifecycle(client, engine.first, scale, options.qbrs)
        plan = measure.skeleton_plan(reference, drive.lifecycle_rounds(options.qbrs))
        earlier_plan = measure.skeleton_plan(reference, drive.lifecycle_rounds(options.qbrs), earlier=True)
        times = f" ({options.pairs} times)" if options.pairs > 1 else ""
        progress(
            f"{options.lifecycles} lifecycles, then as many of each floor's, {options.concurrency} at a time{times}"
        )
        # The CPU figures are left out: each side has two workers here, and the server is the cluster's.
        results.throughput_pairs, _ = await measure.bursts_vs_floor(
            client,
            engine.first,
            floor.first,
            plan,
            pairs=options.pairs,
            count=options.lifecycles,
            concurrency=options.concurrency,
            scale=scale,
            qbrs=options.qbrs,
            earlier_plan=earlier_plan,
        )
        results.throughput = measure.median_pair(results.throughput_pairs)
        for t in results.throughput_pairs:
            progress(
                f"{t.lifecycles_per_second:.2f} lifecycles/s, {t.skeletons_per_second:.2f} skeletons/s;"
                f" Update p95 {t.engine_updates.p95:.2f} s vs {t.skeleton_updates.p95:.2f} s"
            )


async def open_load(client: Client, target: Target, options: Options, cluster: ClusterResults) -> None:
    """Memory with `open` open on each side, then the restart, then Walk and the portfolio query."""
    results = cluster.results
    scale = TimeScale(seconds_per_week=OPEN_SECONDS_PER_WEEK, review_window_seconds=_main().OPEN_REVIEW_WINDOW_SECONDS)
    engine_queue = measure.unique_queue("cluster-engine-memory")
    open_ids: list[str] = []
    skeleton_ids: list[str] = []
    try:
        async with pool("skeleton", measure.unique_queue("cluster-floor-memory"), target) as floor:
            async with pool("partnership", engine_queue, target) as engine:
                await asyncio.sleep(2)
                engine_baseline, floor_baseline = engine.memory(), floor.memory()
                progress(f"{options.open} partnerships into Crawl (a week lasts {scale.seconds_per_week:g} s)")
                setup_seconds = await measure.open_partnerships(
                    client, engine.first, options.open, options.concurrency, scale, open_ids
                )
                engine_loaded = engine.memory()
                progress(f"opened in {setup_seconds:.0f} s; engine workers {engine_baseline} -> {engine_loaded}")
                first_open = await measure.history.run_history(client, open_ids[0])
                progress(f"{options.open} idle skeletons")
                await measure.open_skeletons(
                    client,
                    floor.first,
                    measure.idle_skeleton_plan(first_open),
                    options.open,
                    options.concurrency,
                    skeleton_ids,
                )
                floor_loaded = floor.memory()
                progress(f"skeleton workers {floor_baseline} -> {floor_loaded}")
                results.memory = measure.WorkerMemory(
                    open_workflows=options.open,
                    engine_baseline=engine_baseline,
                    engine_loaded=engine_loaded,
                    floor_baseline=floor_baseline,
                    floor_loaded=floor_loaded,
                    max_cached_workflows=options.max_cached_workflows,
                    seconds_per_week=scale.seconds_per_week,
                    setup_seconds=setup_seconds,
                )
                results.open_history = first_open
                progress("SIGKILL both engine workers")
                killed = time.perf_counter()
                await engine.kill()
            async with pool("partnership", engine_queue, target):
                ready = time.perf_counter() - killed
                progress(f"fresh engine workers polling {ready:.1f} s after the kill; every partnership's status")
                pending = iter(open_ids)
                asked_again = drive.sender(client).stats.query_retries
                # Asked again when the server gives up waiting (seen with 10,000): each query first
                # waits out its partnership's sticky queue on a killed worker, then a replay.
                resumed, _ = await measure.bounded(
                    len(open_ids), options.concurrency, lambda: drive.state(client, next(pending))
                )
                cluster.resume = Resume(
                    open_workflows=len(open_ids),
                    workers_ready_seconds=ready,
                    all_resumed_seconds=resumed,
                    concurrency=options.concurrency,
                    queries_asked_again=drive.sender(client).stats.query_retries - asked_again,
                )
                progress(f"all {len(open_ids)} resumed in {resumed:.0f} s")
                # Listed where they are: moving 10,000 into Walk first would take about an hour here
                # (the embedded bench moves its 2,000), and the list's cost is per row, whatever the phase.
                progress(f"portfolio queries over the {len(open_ids)} partnerships in Crawl")
                results.portfolio = await measure.portfolio_queries(
                    client, target.address, len(open_ids), PORTFOLIO_REPEATS, phase="crawl"
                )
    finally:
        cluster.terminated = await terminate(client, open_ids + skeleton_ids, options.concurrency)


async def terminate(client: Client, workflow_ids: list[str], concurrency: int) -> int:
    """Leave nothing of the bench's running on the cluster."""
    if not workflow_ids:
        return 0
    progress(f"terminating the bench's {len(workflow_ids)} open workflows")
    pending = iter(workflow_ids)

    async def one() -> int:
        with contextlib.suppress(Exception):  # already closed, or gone
            await client.get_workflow_handle(next(pending)).terminate(reason="benchmark over")
            return 1
        return 0

    _, done = await measure.bounded(len(workflow_ids), concurrency, one)
    return sum(done)


def _main() -> Any:
    # bench.__main__ holds the time scales; imported here, not at the top, to avoid a cycle.
    import bench.__main__ as main_module

    return main_module


async def benchmark(options: Options) -> ClusterResults:
    target = target_from_environment()
    drive.ID_PREFIX = f"bench-c{uuid.uuid4().hex[:4]}"
    progress(f"cluster at {target.address} (namespace {target.namespace}); workflow ids {drive.ID_PREFIX}-...")
    client = await make_client(Settings())
    cluster = ClusterResults(results=Results(options=options))
    began = time.perf_counter()
    await throughput(client, target, options, cluster.results)
    await open_load(client, target, options, cluster)
    cluster.results.total_seconds = time.perf_counter() - began
    return cluster


def _verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]missed[/red]"


def print_table(cluster: ClusterResults, console: Console) -> None:
    results = cluster.results
    table = Table(title=f"partnerships engine vs Temporal's floor on the cluster ({WORKERS_PER_SIDE} workers a side)")
    for column in ("figure", "engine", "floor", "ratio / value", "target", ""):
        table.add_column(column)
    t, m, p, r = results.throughput, results.memory, results.portfolio, cluster.resume
    if t is not None:
        table.add_row(
            f"lifecycles/s ({t.lifecycles}, {t.concurrency} at once, 1 week = {t.seconds_per_week:g} s)",
            f"{t.lifecycles_per_second:.2f}",
            f"{t.skeletons_per_second:.2f}",
            f"{t.ratio:.2f}",
            f"≥ {MIN_THROUGHPUT_RATIO}",
            _verdict(t.ratio >= MIN_THROUGHPUT_RATIO),
        )
        e, f = t.engine_updates, t.skeleton_updates
        table.add_row(
            "Update latency p95 (p50 / max) under that burst",
            f"{e.p95:.2f} s ({e.p50:.2f} / {e.max:.2f})",
            f"{f.p95:.2f} s ({f.p50:.2f} / {f.max:.2f})",
            f"{t.update_p95_ratio:.2f}",
            f"≤ {MAX_UPDATE_P95_RATIO}",
            _verdict(t.update_p95_ratio <= MAX_UPDATE_P95_RATIO),
        )
        table.add_row("  p95 of each Update (count)", by_update(e), by_update(f), "", "", "")
        if len(results.throughput_pairs) > 1:
            table.add_row(*pairs_row(results.throughput_pairs))
        for row in earlier_floor_rows(t):
            table.add_row(*row)
        table.add_row(
            "  attempts sent again (timed out / not ready) / refused / no outcome [landed before a retry]",
            f"{e.timeouts} / {e.not_ready} / {e.refusals} / {e.failed} [{e.landed_earlier}]",
            f"{f.timeouts} / {f.not_ready} / {f.refusals} / {f.failed} [{f.landed_earlier}]",
            "",
            "",
            "",
        )
    if m is not None:
        table.add_row(
            f"worker KiB per open workflow ({m.open_workflows}, both workers, cache {m.max_cached_workflows} each)",
            f"{m.engine_kib_per_workflow:.1f}",
            f"{m.floor_kib_per_workflow:.1f}",
            f"{m.ratio:.2f}",
            f"≤ {MAX_MEMORY_RATIO}",
            _verdict(m.ratio <= MAX_MEMORY_RATIO),
        )
        table.add_row(
            "  workers' RSS MiB: empty → peak (now)",
            f"{m.engine_baseline.rss_mib:.0f} → {m.engine_loaded.peak_mib:.0f} ({m.engine_loaded.rss_mib:.0f})",
            f"{m.floor_baseline.rss_mib:.0f} → {m.floor_loaded.peak_mib:.0f} ({m.floor_loaded.rss_mib:.0f})",
            "",
            "",
            "",
        )
    if r is not None:
        table.add_row(
            f"restart: both engine workers SIGKILLed, {r.open_workflows} open partnerships",
            f"polling after {r.workers_ready_seconds:.1f} s",
            "",
            f"all answer status after {r.all_resumed_seconds:.0f} s "
            f"({r.open_workflows / r.all_resumed_seconds:.0f}/s, {r.concurrency} at once; "
            f"{r.queries_asked_again} asked again)",
            "",
            "",
        )
    if p is not None:
        table.add_row(
            f"`partnerships list --phase {p.phase} --json`, subprocess ({p.cli_rows} rows)",
            f"{p.cli_subprocess_seconds:.2f} s",
            f"{p.bare_subprocess_seconds:.2f} s",
            f"{p.subprocess_ratio:.2f}",
            f"≤ {MAX_PORTFOLIO_RATIO}",
            _verdict(p.subprocess_ratio <= MAX_PORTFOLIO_RATIO),
        )
        table.add_row(
            "  same, in-process",
            f"{p.cli_in_process_seconds:.2f} s",
            f"{p.bare_in_process_seconds:.2f} s",
            f"{p.in_process_ratio:.2f}",
            f"≤ {MAX_PORTFOLIO_RATIO}",
            _verdict(p.in_process_ratio <= MAX_PORTFOLIO_RATIO),
        )
    console.print(table)
    info = results.machine
    console.print(
        f"[dim]{info['cpus']} CPUs ({info['cpu_model']}), {info['ram_gib']} GiB RAM, Python {info['python']}; "
        f"cluster benchmark took {results.total_seconds:.0f} s; {cluster.terminated} bench workflows terminated[/dim]"
    )


def cluster_json(cluster: ClusterResults) -> dict[str, Any]:
    from bench.report import as_json as embedded_json

    figures = embedded_json(cluster.results)
    figures["mode"] = "cluster"
    figures["workers_per_side"] = WORKERS_PER_SIDE
    figures["resume"] = None if cluster.resume is None else vars(cluster.resume)
    figures["terminated"] = cluster.terminated
    figures["cluster_targets"] = {
        "throughput_ratio": MIN_THROUGHPUT_RATIO,
        "memory_ratio": MAX_MEMORY_RATIO,
        "portfolio_ratio": MAX_PORTFOLIO_RATIO,
        "update_p95_ratio": MAX_UPDATE_P95_RATIO,
    }
    return figures


def main(
    *, quick: bool, as_json: bool, pairs: int = 1, lifecycles: int = DEFAULT_LIFECYCLES, open_: int = DEFAULT_OPEN
) -> None:
    main_module = _main()
    options = Options(
        lifecycles=10 if quick else lifecycles,
        open=100 if quick else open_,
        quarters=0,
        concurrency=main_module.CONCURRENCY,
        qbrs=main_module.QBRS_PER_LIFECYCLE,
        max_cached_workflows=main_module.MAX_CACHED_WORKFLOWS,
        pairs=pairs,
    )
    cluster = run_to_the_end(benchmark(options))
    if as_json:
        sys.stdout.write(json.dumps(cluster_json(cluster), indent=2, default=str) + "\n")
    else:
        print_table(cluster, Console() if sys.stdout.isatty() else Console(width=180))
