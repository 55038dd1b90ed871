"""python -m bench [--lifecycles N] [--open M] [--pairs K] [--json] [--quick] [--cluster]

One run, on its own Temporal dev server and worker processes:
1. lifecycles per second against a skeleton workflow with the same Temporal calls (the floor),
   the latency of every Update of that burst on both sides and the CPU each burst cost
   (with `--pairs K`, K engine-then-floor bursts, the median pair judged);
2. history size per complete lifecycle and for a partnership 40 quarters into Run;
3. worker memory per open partnership against per idle skeleton;
4. `partnerships list --phase walk --json` against the bare visibility query.

`--cluster` measures on a running cluster instead (TEMPORAL_ADDRESS, DATABASE_URL from the
environment): see bench/cluster.py.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench import drive, history, measure
from bench.processes import (
    DevServer,
    StoppedBySignal,
    dev_server,
    memory_of,
    run_to_the_end,
    server_log_tail,
    worker_process,
)
from bench.report import Options, Results, as_json, print_table
from partnerships.domain.lifecycle import TimeScale

# A week lasts 500 ms: a lifecycle's phase timers add up to ~32 s. The deadlines the driver can
# miss while it waits on a busy server must outlast the slowest Update under the burst (the
# report checks it): evidence may land until a review is decided, so those are the review
# window, set apart from the week (REVIEW_WINDOW_SECONDS: policy decides after twice that),
# and signing, which the charter caps at 180 days (12.9 s at 0.5 s a week). At 0.3 s a week
# (7.7 s), 200 lifecycles 50 at a time on 2 busy cores saw single Updates take 10 s and more
# and a charter expire before its signatures.
LIFECYCLE_SECONDS_PER_WEEK = 0.5
REVIEW_WINDOW_SECONDS = 60.0
# The open partnerships' reviews open while the bench is still busy elsewhere: an hour each.
OPEN_REVIEW_WINDOW_SECONDS = 3600.0
# How many lifecycles and skeletons run at once: enough to keep both cores busy.
CONCURRENCY = 50
QBRS_PER_LIFECYCLE = 4
LONG_QUARTERS = 40
# The 40-quarter partnership runs alone on an idle worker: a 50 ms week keeps it to ~30 s.
LONG_SECONDS_PER_WEEK = 0.05
HISTORY_SAMPLE = 10
PORTFOLIO_REPEATS = 5
# The SDK's default workflow cache; build_worker does not change it, nor does the skeleton's worker.
MAX_CACHED_WORKFLOWS = 1000
# Opening partnerships (start + two signatures) ran at 24 per second on the dev server and 20 on
# the cluster (2 cores, 2026-12-02; 4.6 and 3 to 8 before the store's writer and connection fixes).
# Crawl must outlast opening them all (the engine's memory is read right after); a guess too high
# compresses the weeks so much that the first partnerships' reviews load the machine while the
# rest open, one too low leaves the bench waiting for Crawl's reviews to open.
OPEN_RATE_GUESS = 12.0

DEFAULT_LIFECYCLES = 200
DEFAULT_OPEN = 2000

err = Console(stderr=True)


def progress(message: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def open_scale(count: int) -> TimeScale:
    """Slow enough that open partnerships stay in Crawl while all are opened and measured."""
    crawl_seconds = max(20.0, 1.1 * count / OPEN_RATE_GUESS + 10)
    return TimeScale(
        seconds_per_week=crawl_seconds / drive.CRAWL_WEEKS, review_window_seconds=OPEN_REVIEW_WINDOW_SECONDS
    )


def lifecycle_scale() -> TimeScale:
    return TimeScale(seconds_per_week=LIFECYCLE_SECONDS_PER_WEEK, review_window_seconds=REVIEW_WINDOW_SECONDS)


async def throughput_and_history(server: DevServer, store_url: str, options: Options, results: Results) -> None:
    scale = lifecycle_scale()
    client = server.client
    async with (
        worker_process("partnership", measure.unique_queue("engine"), server.address, store_url) as engine,
        worker_process("skeleton", measure.unique_queue("floor"), server.address, store_url) as floor,
    ):
        progress("reference lifecycle (alone)")
        reference = await measure.reference_lifecycle(client, engine, scale, QBRS_PER_LIFECYCLE)
        plan = measure.skeleton_plan(reference, _rounds())
        earlier_plan = measure.skeleton_plan(reference, _rounds(), earlier=True)
        skeleton_id, skeleton_run = await measure.drive.full_skeleton(client, floor.task_queue, plan)
        skeleton = await history.chain(client, skeleton_id, skeleton_run)
        times = f" ({options.pairs} times)" if options.pairs > 1 else ""
        progress(f"{options.lifecycles} lifecycles, then as many of each floor's, {CONCURRENCY} at a time{times}")
        results.throughput_pairs, lifecycles = await measure.bursts_vs_floor(
            client,
            engine,
            floor,
            plan,
            pairs=options.pairs,
            count=options.lifecycles,
            concurrency=CONCURRENCY,
            scale=scale,
            qbrs=QBRS_PER_LIFECYCLE,
            earlier_plan=earlier_plan,
            server_pid=server.process.pid,
        )
        results.throughput = measure.median_pair(results.throughput_pairs)
        for t in results.throughput_pairs:
            progress(
                f"{t.lifecycles_per_second:.2f} lifecycles/s, {t.skeletons_per_second:.2f} skeletons/s;"
                f" Update p95 {t.engine_updates.p95:.2f} s vs {t.skeleton_updates.p95:.2f} s"
            )
        samples = await measure.sample_histories(client, lifecycles, HISTORY_SAMPLE)
        progress(f"one partnership through {options.quarters} quarters of Run")
        long_scale = TimeScale(seconds_per_week=LONG_SECONDS_PER_WEEK, review_window_seconds=REVIEW_WINDOW_SECONDS)
        long_runs = await measure.long_partnership(client, engine, long_scale, options.quarters)
    results.history = measure.HistorySize(
        reference_runs=reference,
        skeleton_runs=skeleton,
        sampled_events=[sum(r.events for r in runs) for runs in samples],
        sampled_activities=[history.total(runs, "activities") for runs in samples],
        long_quarters=options.quarters,
        long_runs=long_runs,
    )


def _rounds() -> list[int]:
    return measure.drive.lifecycle_rounds(QBRS_PER_LIFECYCLE)


async def memory_and_portfolio(server: DevServer, store_url: str, options: Options, results: Results) -> None:
    client = server.client
    scale = open_scale(options.open)
    async with (
        worker_process("partnership", measure.unique_queue("engine-memory"), server.address, store_url) as engine,
        worker_process("skeleton", measure.unique_queue("floor-memory"), server.address, store_url) as floor,
    ):
        await asyncio.sleep(2)  # let both finish starting up before their baselines are read
        engine_baseline, floor_baseline = memory_of(engine.pid), memory_of(floor.pid)
        progress(f"{options.open} partnerships into Crawl (a week lasts {scale.seconds_per_week:g} s)")
        open_ids: list[str] = []  # the embedded server dies with the run: nothing to terminate
        setup_seconds = await measure.open_partnerships(client, engine, options.open, CONCURRENCY, scale, open_ids)
        engine_loaded = memory_of(engine.pid)
        progress(f"opened in {setup_seconds:.0f} s; engine worker {engine_baseline} -> {engine_loaded}")
        first_open = await history.run_history(client, open_ids[0])
        progress(f"{options.open} idle skeletons")
        await measure.open_skeletons(
            client, floor, measure.idle_skeleton_plan(first_open), options.open, CONCURRENCY, started=[]
        )
        floor_loaded = memory_of(floor.pid)
        progress(f"floor worker {floor_baseline} -> {floor_loaded}")
        results.memory = measure.WorkerMemory(
            open_workflows=options.open,
            engine_baseline=engine_baseline,
            engine_loaded=engine_loaded,
            floor_baseline=floor_baseline,
            floor_loaded=floor_loaded,
            max_cached_workflows=MAX_CACHED_WORKFLOWS,
            seconds_per_week=scale.seconds_per_week,
            setup_seconds=setup_seconds,
        )
        results.open_history = first_open
        progress(f"moving the {options.open} partnerships into Walk when their Crawl reviews open")
        crawl_seconds = drive.CRAWL_WEEKS * scale.seconds_per_week
        in_walk = await measure.move_into_walk(client, open_ids, CONCURRENCY, crawl_seconds)
        progress("portfolio queries")
        results.portfolio = await measure.portfolio_queries(client, server.address, in_walk, PORTFOLIO_REPEATS)


async def benchmark(options: Options) -> Results:
    results = Results(options=options)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="partnerships-bench-") as work:
        work_dir = Path(work)
        store_url = f"sqlite:///{work_dir / 'store.db'}"
        progress(f"starting a Temporal dev server (state in {work_dir})")
        async with dev_server(work_dir) as server:
            try:
                await throughput_and_history(server, store_url, options, results)
                await memory_and_portfolio(server, store_url, options, results)
            except BaseException:
                if server.process.returncode is not None:
                    err.print(f"the bench's Temporal dev server exited with {server.process.returncode}; its log ends:")
                    err.print(server_log_tail(work_dir), markup=False, highlight=False)
                raise
    results.total_seconds = time.perf_counter() - began
    return results


def main(
    lifecycles: Annotated[
        int | None,
        typer.Option(
            help="Complete lifecycles to run (and as many skeletons).", show_default=str(DEFAULT_LIFECYCLES), min=1
        ),
    ] = None,
    open_: Annotated[
        int | None,
        typer.Option(
            "--open",
            help="Open partnerships for the memory and portfolio figures.",
            show_default=f"{DEFAULT_OPEN}; 10000 with --cluster",
            min=1,
        ),
    ] = None,
    as_json_: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    quick: Annotated[bool, typer.Option(help="Small numbers: a smoke run in about a minute.")] = False,
    pairs: Annotated[
        int,
        typer.Option(
            help="Run the engine's burst and then the floor's this many times; the median pair is judged.", min=1
        ),
    ] = 1,
    cluster: Annotated[
        bool,
        typer.Option(help="Measure on the running cluster (TEMPORAL_ADDRESS, DATABASE_URL) with two workers a side."),
    ] = False,
) -> None:
    """Measure the engine against Temporal's own floor on this machine."""
    try:
        measure_and_print(lifecycles, open_, as_json_, quick, pairs, cluster)
    except StoppedBySignal as stopped:
        err.print(f"the bench was {stopped}")
        raise typer.Exit(128 + signal.SIGTERM) from None


def measure_and_print(
    lifecycles: int | None, open_: int | None, as_json_: bool, quick: bool, pairs: int, cluster: bool
) -> None:
    if cluster:
        from bench.cluster import main as on_cluster

        # The cluster has defaults of its own (10,000 open); a number given on the command line wins.
        given = {"lifecycles": lifecycles, "open_": open_}
        on_cluster(
            quick=quick, as_json=as_json_, pairs=pairs, **{name: n for name, n in given.items() if n is not None}
        )
        return
    options = Options(
        lifecycles=10 if quick else lifecycles or DEFAULT_LIFECYCLES,
        open=100 if quick else open_ or DEFAULT_OPEN,
        quarters=10 if quick else LONG_QUARTERS,
        concurrency=CONCURRENCY,
        qbrs=QBRS_PER_LIFECYCLE,
        max_cached_workflows=MAX_CACHED_WORKFLOWS,
        pairs=pairs,
    )
    results = run_to_the_end(benchmark(options))
    if as_json_:
        sys.stdout.write(json.dumps(as_json(results), indent=2) + "\n")
    else:
        # Piped into a file or CI log, Rich would wrap the table at 80 columns.
        print_table(results, Console() if sys.stdout.isatty() else Console(width=160))


if __name__ == "__main__":
    typer.run(main)
