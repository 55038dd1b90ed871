"""Commands that look: status, list, show, tasks, report, doctor, and the demo walk-through."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from partnerships.adapters.config import Settings
from partnerships.cli.app import (
    JsonFlag,
    Reference,
    UserError,
    app,
    connect,
    current_status,
    handles_errors,
    out,
    run_async,
)
from partnerships.cli.options import parse_time_scale
from partnerships.cli.render import deadline_cell, json_default, print_gate, print_heading, print_record, rag_cell

if TYPE_CHECKING:
    pass


@app.command()
@handles_errors
def status(reference: Reference, as_json: JsonFlag = False) -> None:
    """Where one partnership stands: phase, gate, decisions, open tasks."""
    current = run_async(current_status(reference))
    if as_json:
        from partnerships.service.record import status_facts

        sys.stdout.write(json.dumps(status_facts(current), indent=2) + "\n")
        return
    p = current.partnership
    print_heading(current)
    if p.signatures:
        out.print(
            "signed: "
            + ", ".join(f"{escape(s.name)} ({s.side.value}) {s.signed_at:%Y-%m-%d %H:%M}" for s in p.signatures)
        )
    if p.end_reason:
        out.print(f"ended: {escape(p.end_reason)}")
    if current.current_gate:
        title = p.review.label if p.review else f"{p.phase_label()} gate so far"
        print_gate(current.current_gate, title)
    for review in p.reviews:
        d = review.decision
        if d:
            flag = " [bold red]OVERRIDE[/bold red]" if d.overrides_failing_gate else ""
            out.print(
                f"• {review.label}: [bold]{d.outcome.value}[/bold] by {escape(d.decided_by_name)}{flag} "
                f"{d.decided_at:%Y-%m-%d %H:%M}" + (f" — {escape(d.reason)}" if d.reason else "")
            )
    if p.open_tasks:
        out.print(f"open tasks ({len(p.open_tasks)}):")
        for t in p.open_tasks:
            out.print(f"  ☐ {escape(t.title)} [dim]{t.owner} · {escape(t.id)}[/dim]")


@app.command("list")
@handles_errors
def list_partnerships(
    phase: Annotated[
        str | None,
        typer.Option(help="Only this phase: charter, crawl, walk, run, exited, completed."),
    ] = None,
    tier: Annotated[int | None, typer.Option(help="Only this tier: 1, 2 or 3.")] = None,
    partner: Annotated[str | None, typer.Option(help="Only partners whose name starts with this.")] = None,
    rag: Annotated[str | None, typer.Option(help="Only this RAG status: red, amber, green.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only gate reviews past their deadline.")] = False,
    include_closed: Annotated[bool, typer.Option("--all", help="Include closed partnerships.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The portfolio at a glance, from Temporal's visibility (the same filters as the Web UI)."""
    # Only the portfolio query: listing must start as quickly as the bare SDK does.
    from partnerships.domain.durations import humanize
    from partnerships.service.portfolio_query import list_partnerships

    async def go() -> list[dict[str, Any]]:
        return await list_partnerships(
            await connect(),
            phase=phase,
            tier=tier,
            partner=partner,
            rag=rag,
            overdue=overdue,
            include_closed=include_closed,
        )

    rows = run_async(go())
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        out.print("[dim]no partnership matches[/dim]")
        return
    table = Table()
    for column in ("partnership", "partner", "tier", "phase", "time in phase", "next deadline", "last gate", "RAG"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            escape(r["slug"]) + (" [yellow]⏩ rehearsal[/yellow]" if r.get("rehearsal") else ""),
            escape(r["partner"] or ""),
            str(r["tier"] or ""),
            f"{r['phase']} · {r['step']}",
            humanize(timedelta(seconds=r["seconds_in_phase"])) if r["seconds_in_phase"] is not None else "",
            deadline_cell(r),
            r["last_gate_outcome"] or "",
            rag_cell(r["rag"]),
        )
    out.print(table)


@app.command()
@handles_errors
def show(reference: Reference, as_json: JsonFlag = False) -> None:
    """One partnership's whole record: signatures, phases, every gate review and decision, all tasks."""
    current = run_async(current_status(reference))
    from partnerships.adapters.store import Store, make_engine

    store = Store(make_engine(Settings().store_url))
    from partnerships.service.record import full_record

    record = full_record(current, store)
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2, default=json_default) + "\n")
        return
    print_record(current, record)


@app.command()
@handles_errors
def report(
    report_format: Annotated[str, typer.Option("--format", help="html, md or both.")] = "both",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the report into.")] = Path("reports"),
) -> None:
    """The portfolio's quarterly scorecard and gate funnel, from the engine's store."""
    from partnerships.domain.portfolio import ReportFormat, build_report

    try:
        formats = ReportFormat(report_format)
    except ValueError:
        raise UserError([f"--format: '{report_format}' is not a format (html, md or both)"]) from None
    settings = Settings()
    from partnerships.adapters.store import Store, make_engine
    from partnerships.adapters.templates import make_environment
    from partnerships.service.report import load_portfolio, write_report

    portfolio = build_report(*load_portfolio(Store(make_engine(settings.store_url))), generated_at=datetime.now(UTC))
    try:
        written = write_report(portfolio, make_environment(settings.templates_dir), formats, output)
    except OSError as error:
        raise UserError([f"--output: cannot write to {output} ({error.strerror or error})"]) from None
    for path in written:
        out.print(f"wrote {path}")


@app.command()
@handles_errors
def tasks(
    reference: Annotated[str | None, typer.Argument(help="Only this partnership's tasks.")] = None,
    include_closed: Annotated[bool, typer.Option("--all", help="Include done and cancelled tasks.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Open tasks across the portfolio, or for one partnership."""
    from partnerships.adapters.store import Store, make_engine
    from partnerships.service import commands as service

    store = Store(make_engine(Settings().store_url))
    rows = store.tasks(
        service.workflow_id_of(reference) if reference else None,
        status=None if include_closed else "open",
    )
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in rows], indent=2) + "\n")
        return
    table = Table()
    for column in ("task", "title", "owner", "due", "status"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.id, r.title, r.owner, f"{r.due_at:%Y-%m-%d %H:%M}" if r.due_at else "", r.status)
    out.print(table)


@app.command()
@handles_errors
def demo(
    charter_file: Annotated[Path, typer.Option("--charter", help="Charter to run.")] = Path(
        "charters/acme-analytics.yaml"
    ),
    time_scale: Annotated[str, typer.Option("--time-scale", help="How fast time runs.")] = "1w=0.5s",
) -> None:
    """Drive one example partnership through every phase in compressed time (needs a running worker)."""
    from partnerships.adapters.charter_file import load_charter
    from partnerships.demo.script import drive

    charter = load_charter(charter_file)
    stamp = datetime.now(UTC).strftime("%m%d-%H%M%S")
    charter = charter.model_copy(update={"slug": f"{charter.slug}-demo-{stamp}"})
    run_async(drive(charter, parse_time_scale(time_scale), out))


@app.command()
@handles_errors
def doctor() -> None:
    """Which notifier is active, whether Temporal is reachable, which store is used."""
    from partnerships.service.doctor import doctor_report

    for line in doctor_report(Settings()):
        out.print(escape(line))
