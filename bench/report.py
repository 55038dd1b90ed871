"""One table for people (Rich), the same figures as JSON for machines."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.history import RunHistory
from bench.measure import BurstCpu, HistorySize, Portfolio, Throughput, UpdateLatency, WorkerMemory
from bench.processes import RESTARTS

# The targets.
MIN_THROUGHPUT_RATIO = 0.7
MAX_EVENTS_PER_LIFECYCLE = 200
MAX_LONG_CURRENT_RUN_EVENTS = 300  # strictly below
MAX_MEMORY_RATIO = 1.5
MAX_PORTFOLIO_RATIO = 1.5
MAX_UPDATE_P95_RATIO = 1.5
# The driver's deadlines must outlast the slowest Update it measured, by this much at least.
MIN_DEADLINE_MARGIN = 2.0


@dataclass
class Options:
    lifecycles: int
    open: int
    quarters: int
    concurrency: int
    qbrs: int
    max_cached_workflows: int
    pairs: int = 1


@dataclass
class Results:
    options: Options
    # The pair judged: the median of `throughput_pairs` by Update p95 ratio.
    throughput: Throughput | None = None
    throughput_pairs: list[Throughput] = field(default_factory=list)
    history: HistorySize | None = None
    memory: WorkerMemory | None = None
    open_history: RunHistory | None = None
    portfolio: Portfolio | None = None
    total_seconds: float = 0.0
    machine: dict[str, Any] = field(default_factory=lambda: machine())


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    memory_kib = next((int(line.split()[1]) for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
    }


def _lines(path: str) -> list[str]:
    file = Path(path)
    return file.read_text().splitlines() if file.exists() else []


def _verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]missed[/red]"


def print_table(results: Results, console: Console) -> None:
    table = Table(title="partnerships engine vs Temporal's floor (python -m bench)")
    for column in ("figure", "engine", "floor", "ratio / value", "target", ""):
        table.add_column(column)
    t, h, m, p = results.throughput, results.history, results.memory, results.portfolio
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
            f"Update latency p95 under that burst ({e.count} / {f.count} Updates)",
            f"{e.p95:.2f} s",
            f"{f.p95:.2f} s",
            f"{t.update_p95_ratio:.2f}",
            f"≤ {MAX_UPDATE_P95_RATIO}",
            _verdict(t.update_p95_ratio <= MAX_UPDATE_P95_RATIO),
        )
        table.add_row("  p50 / max", _p50_max(e), _p50_max(f), "", "", "")
        if len(results.throughput_pairs) > 1:
            table.add_row(*pairs_row(results.throughput_pairs))
        if t.engine_cpu and t.floor_cpu:
            table.add_row(*cpu_row(t))
        table.add_row("  p95 of each Update (count)", by_update(e), by_update(f), "", "", "")
        table.add_row(
            "  attempts sent again (timed out / workflow not ready) / refused / failed in handler / no outcome"
            " [status queries asked again; sent again after the first had landed]",
            _outcomes(e),
            _outcomes(f),
            "",
            "0 failed",
            _verdict(e.errors == e.failed == f.errors == f.failed == 0),
        )
        for row in earlier_floor_rows(t):
            table.add_row(*row)
        window = "" if t.review_window_seconds is None else f", review window {t.review_window_seconds:g} s"
        table.add_row(
            f"  shortest deadline the driver could miss ({t.shortest_deadline_seconds:.0f} s{window}) / slowest Update",
            "",
            "",
            f"{t.deadline_margin:.1f}x",
            f"≥ {MIN_DEADLINE_MARGIN:g}x",
            _verdict(t.deadline_margin >= MIN_DEADLINE_MARGIN),
        )
        table.add_row(
            "  go decisions refused / of which policy decided first",
            f"{t.refused_decisions} / {t.policy_first}",
            "",
            "",
            "",
            "",
        )
    if h is not None:
        table.add_row(
            f"events per complete lifecycle ({len(h.reference_runs)} runs)",
            str(h.events_per_lifecycle),
            str(sum(r.events for r in h.skeleton_runs)),
            f"{h.bytes_per_lifecycle / 1024:.0f} KiB, {h.bytes_per_lifecycle / h.events_per_lifecycle:.0f} B/event",
            f"≤ {MAX_EVENTS_PER_LIFECYCLE}",
            _verdict(h.events_per_lifecycle <= MAX_EVENTS_PER_LIFECYCLE),
        )
        if h.sampled_events:
            table.add_row(
                f"  same, under load (sample of {len(h.sampled_events)})",
                f"{min(h.sampled_events)}-{max(h.sampled_events)}",
                "",
                f"regular activities {min(h.sampled_activities)}-{max(h.sampled_activities)}",
                "",
                "",
            )
        table.add_row(
            f"events in current run after {h.long_quarters} quarters (max over {len(h.long_runs)} runs)",
            f"{h.long_current_run_events} (max {h.long_max_run_events})",
            "",
            "",
            f"< {MAX_LONG_CURRENT_RUN_EVENTS}",
            _verdict(h.long_current_run_events < MAX_LONG_CURRENT_RUN_EVENTS),
        )
        kinds = ("activities", "local_activities", "timers", "updates", "upserts")
        counts = {k: sum(r.counts[k] for r in h.reference_runs) for k in kinds}
        table.add_row(
            "  per lifecycle: activities / local / timers / updates / upserts / continue-as-new",
            " / ".join(str(v) for v in counts.values()) + f" / {len(h.reference_runs) - 1}",
            " / ".join(str(sum(r.counts[k] for r in h.skeleton_runs)) for k in counts)
            + f" / {len(h.skeleton_runs) - 1}",
            "",
            "",
            "",
        )
    if m is not None:
        table.add_row(
            f"worker KiB per open workflow ({m.open_workflows}, cache {m.max_cached_workflows})",
            f"{m.engine_kib_per_workflow:.1f}",
            f"{m.floor_kib_per_workflow:.1f}",
            f"{m.ratio:.2f}",
            f"≤ {MAX_MEMORY_RATIO}",
            _verdict(m.ratio <= MAX_MEMORY_RATIO),
        )
        table.add_row(
            "  worker RSS MiB: empty → peak (now)",
            f"{m.engine_baseline.rss_mib:.0f} → {m.engine_loaded.peak_mib:.0f} ({m.engine_loaded.rss_mib:.0f})",
            f"{m.floor_baseline.rss_mib:.0f} → {m.floor_loaded.peak_mib:.0f} ({m.floor_loaded.rss_mib:.0f})",
            "",
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
            "  same, in-process (service.list_partnerships vs list_workflows)",
            f"{p.cli_in_process_seconds:.2f} s",
            f"{p.bare_in_process_seconds:.2f} s",
            f"{p.in_process_ratio:.2f}",
            f"≤ {MAX_PORTFOLIO_RATIO}",
            _verdict(p.in_process_ratio <= MAX_PORTFOLIO_RATIO),
        )
    console.print(table)
    for restart in RESTARTS:
        console.print(f"[yellow]replaced during the run: {restart}[/yellow]")
    info = results.machine
    console.print(
        f"[dim]{info['cpus']} CPUs ({info['cpu_model']}), {info['ram_gib']} GiB RAM, Python {info['python']}; "
        f"benchmark took {results.total_seconds:.0f} s[/dim]"
    )


def earlier_floor_rows(t: Throughput) -> list[tuple[str, str, str, str, str, str]]:
    """The engine against the floor that answers every Update before its local activities:
    shown beside the targets, not judged (the engine answers an act once it is recorded)."""
    if t.earlier_floor is None:
        return []
    e, f = t.engine_updates, t.earlier_floor.updates
    return [
        (
            "  earlier floor (answers every Update before its local activities): lifecycles/s",
            f"{t.lifecycles_per_second:.2f}",
            f"{t.earlier_floor_per_second:.2f}",
            f"{t.ratio_to_earlier_floor:.2f}",
            "",
            "",
        ),
        (
            "  earlier floor: Update p95 (p50 / max)",
            f"{e.p95:.2f} s",
            f"{f.p95:.2f} s ({f.p50:.2f} / {f.max:.2f})",
            f"{t.update_p95_ratio_to_earlier_floor:.2f}",
            "",
            "",
        ),
    ]


def pairs_row(pairs: list[Throughput]) -> tuple[str, str, str, str, str, str]:
    """Every pair's ratios, in the order run: the rows above are the median pair's."""
    p95_ratios = ", ".join(f"{pair.update_p95_ratio:.2f}" for pair in pairs)
    throughput_ratios = ", ".join(f"{pair.ratio:.2f}" for pair in pairs)
    return (
        f"  {len(pairs)} pairs of bursts, engine then floor: Update p95 ratio; lifecycles/s ratio"
        " (the rows above are the median pair's)",
        "\n".join(f"{pair.engine_updates.p95:.2f} s" for pair in pairs),
        "\n".join(f"{pair.skeleton_updates.p95:.2f} s" for pair in pairs),
        # Of an even count, the worse middle one, as the pair judged.
        f"{p95_ratios} (median {statistics.median_high(p.update_p95_ratio for p in pairs):.2f});"
        f" {throughput_ratios} (median {statistics.median_low(p.ratio for p in pairs):.2f})",
        "",
        "",
    )


def cpu_row(t: Throughput) -> tuple[str, str, str, str, str, str]:
    e, f = t.engine_cpu, t.floor_cpu
    assert e is not None and f is not None

    def per_lifecycle(cpu: BurstCpu) -> str:
        def each(seconds: float | None) -> str:
            return "?" if seconds is None else f"{seconds / t.lifecycles * 1000:.0f}"

        return f"{each(cpu.worker_seconds)} / {each(cpu.server_seconds)} ms"

    ratio = f"{e.worker_seconds / f.worker_seconds:.2f}" if e.worker_seconds and f.worker_seconds else ""
    return (
        "  CPU per lifecycle in the burst: worker process / Temporal server",
        per_lifecycle(e),
        per_lifecycle(f),
        ratio,
        "",
        "",
    )


def _p50_max(latency: UpdateLatency) -> str:
    return f"{latency.p50:.2f} / {latency.max:.2f} s"


def by_update(latency: UpdateLatency) -> str:
    return "\n".join(f"{name} {p95:.2f} s ({count})" for name, (p95, count) in latency.p95_by_update.items())


def _outcomes(latency: UpdateLatency) -> str:
    return (
        f"{latency.timeouts} / {latency.not_ready} / {latency.refusals} / {latency.errors} / {latency.failed}"
        f" [{latency.query_retries}; {latency.landed_earlier}]"
    )


def _run_json(run: RunHistory) -> dict[str, Any]:
    return {"events": run.events, "bytes": run.bytes, **run.counts, "fired_timers": run.fired_timers}


def as_json(results: Results) -> dict[str, Any]:
    t, h, m, p = results.throughput, results.history, results.memory, results.portfolio
    figures: dict[str, Any] = {"machine": results.machine, "total_seconds": round(results.total_seconds, 1)}
    figures["worker_restarts"] = list(RESTARTS)
    figures["options"] = vars(results.options)
    if t is not None:
        figures["throughput_pairs"] = [
            {
                "update_p95_ratio": pair.update_p95_ratio,
                "ratio": pair.ratio,
                "engine_update_p95": pair.engine_updates.p95,
                "skeleton_update_p95": pair.skeleton_updates.p95,
                "engine_cpu": None if pair.engine_cpu is None else vars(pair.engine_cpu),
                "floor_cpu": None if pair.floor_cpu is None else vars(pair.floor_cpu),
            }
            for pair in results.throughput_pairs
        ]
        figures["throughput"] = {
            **vars(t),
            "lifecycles_per_second": t.lifecycles_per_second,
            "skeletons_per_second": t.skeletons_per_second,
            "ratio": t.ratio,
            "target": MIN_THROUGHPUT_RATIO,
            "met": t.ratio >= MIN_THROUGHPUT_RATIO,
            "engine_updates": vars(t.engine_updates),
            "skeleton_updates": vars(t.skeleton_updates),
            "engine_cpu": None if t.engine_cpu is None else vars(t.engine_cpu),
            "floor_cpu": None if t.floor_cpu is None else vars(t.floor_cpu),
            "update_p95_ratio": t.update_p95_ratio,
            "update_p95_target": MAX_UPDATE_P95_RATIO,
            "update_p95_met": t.update_p95_ratio <= MAX_UPDATE_P95_RATIO,
            "deadline_margin": t.deadline_margin,
            "deadline_margin_target": MIN_DEADLINE_MARGIN,
            "earlier_floor": None
            if t.earlier_floor is None
            else {
                "seconds": t.earlier_floor.seconds,
                "per_second": t.earlier_floor_per_second,
                "ratio": t.ratio_to_earlier_floor,
                "updates": vars(t.earlier_floor.updates),
                "update_p95_ratio": t.update_p95_ratio_to_earlier_floor,
            },
        }
    if h is not None:
        figures["history"] = {
            "events_per_lifecycle": h.events_per_lifecycle,
            "bytes_per_lifecycle": h.bytes_per_lifecycle,
            "bytes_by_event_type": dict(h.bytes_by_type().most_common()),
            "reference_runs": [_run_json(r) for r in h.reference_runs],
            "skeleton_runs": [_run_json(r) for r in h.skeleton_runs],
            "sampled_events_under_load": h.sampled_events,
            "sampled_activities_under_load": h.sampled_activities,
            "mean_events_under_load": statistics.mean(h.sampled_events) if h.sampled_events else None,
            "long_quarters": h.long_quarters,
            "long_current_run_events": h.long_current_run_events,
            "long_max_run_events": h.long_max_run_events,
            "long_run_events": [r.events for r in h.long_runs],
            "targets": {"events_per_lifecycle": MAX_EVENTS_PER_LIFECYCLE, "long_current_run_below": 300},
            "met": h.events_per_lifecycle <= MAX_EVENTS_PER_LIFECYCLE
            and h.long_current_run_events < MAX_LONG_CURRENT_RUN_EVENTS,
        }
    if m is not None:
        figures["memory"] = {
            "open_workflows": m.open_workflows,
            "max_cached_workflows": m.max_cached_workflows,
            "seconds_per_week": m.seconds_per_week,
            "setup_seconds": m.setup_seconds,
            "engine_baseline_rss_mib": m.engine_baseline.rss_mib,
            "engine_peak_mib": m.engine_loaded.peak_mib,
            "engine_rss_mib": m.engine_loaded.rss_mib,
            "floor_baseline_rss_mib": m.floor_baseline.rss_mib,
            "floor_peak_mib": m.floor_loaded.peak_mib,
            "floor_rss_mib": m.floor_loaded.rss_mib,
            "engine_kib_per_workflow": m.engine_kib_per_workflow,
            "floor_kib_per_workflow": m.floor_kib_per_workflow,
            "ratio": m.ratio,
            "target": MAX_MEMORY_RATIO,
            "met": m.ratio <= MAX_MEMORY_RATIO,
            "open_partnership_history": None if results.open_history is None else _run_json(results.open_history),
        }
    if p is not None:
        figures["portfolio"] = {
            **vars(p),
            "subprocess_ratio": p.subprocess_ratio,
            "in_process_ratio": p.in_process_ratio,
            "target": MAX_PORTFOLIO_RATIO,
            "met": p.subprocess_ratio <= MAX_PORTFOLIO_RATIO,
        }
    return figures
