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
from partnerships.cli.render import (
    WIDE_ENOUGH_FOR_TABLES,
    TaskLine,
    deadline_cell,
    json_default,
    print_gate,
    print_heading,
    print_record,
    print_tasks,
    rag_cell,
    rows_as_json,
    task_json,
)

if TYPE_CHECKING:
    pass


@app.command()
@handles_errors
def status(reference: Reference, as_json: JsonFlag = False) -> None:
    """Where one partnership stands and what it waits for.

    Phase, the gate on the evidence so far, decisions, open tasks."""
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
    if p.review is not None and (p.review.votes or p.review.quorum != "any"):
        out.print(f"votes: {escape(p.tally())}")
        for vote in p.review.votes:
            out.print(f"  {escape(vote.describe())} [dim]{vote.cast_at:%Y-%m-%d %H:%M} UTC[/dim]")
    if p.conditions:
        out.print("conditions of the last go (the next gate fails while one is open):")
        for c in p.conditions:
            mark = "☑" if c.met else ("[red]☐ overdue[/red]" if c.escalated else "☐")
            out.print(f"  {mark} {escape(c.title)} [dim]{c.owner} · due {c.due_at:%Y-%m-%d %H:%M} UTC[/dim]")
    for review in p.reviews:
        d = review.decision
        if d:
            flag = " [bold red]OVERRIDE[/bold red]" if d.overrides_failing_gate else ""
            out.print(
                f"• {review.label}: [bold]{d.outcome.value}[/bold] by {escape(d.decided_by_name)}{flag} "
                f"{d.decided_at:%Y-%m-%d %H:%M}" + (f" — {escape(d.reason)}" if d.reason else "")
            )
            if len(d.votes) > 1 or d.quorum != "any":
                out.print(
                    f"  [dim]votes ({escape(d.quorum)}): {escape('; '.join(v.describe() for v in d.votes))}[/dim]"
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
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only gate reviews past their deadline, or with tasks past due.")
    ] = False,
    on_hold: Annotated[
        bool, typer.Option("--on-hold", help="Only partnerships a gate put on hold until a re-check date.")
    ] = False,
    include_closed: Annotated[bool, typer.Option("--all", help="Include closed partnerships.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The portfolio at a glance.

    From Temporal's visibility: the same filters as the Web UI."""
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
            on_hold=on_hold,
            include_closed=include_closed,
        )

    rows = run_async(go())
    if as_json:
        sys.stdout.write(rows_as_json(rows))
        return
    if not rows:
        out.print("[dim]no partnership matches[/dim]")
        return
    # Narrow terminals drop the columns a glance can do without; slugs are never cut.
    wide = out.width >= WIDE_ENOUGH_FOR_TABLES
    table = Table()
    table.add_column("partnership", no_wrap=True, overflow="ignore")
    table.add_column("partner")
    if wide:
        table.add_column("tier")
    table.add_column("phase")
    if wide:
        table.add_column("time in phase")
    table.add_column("next deadline")
    if wide:
        table.add_column("last gate")
    table.add_column("RAG")
    for r in rows:
        cells = [
            escape(r["slug"]) + (" [yellow]⏩[/yellow]" if r.get("rehearsal") else ""),
            escape(r["partner"] or ""),
            str(r["tier"] or ""),
            f"{r['phase']} · {r['step']}",
            humanize(timedelta(seconds=r["seconds_in_phase"])) if r["seconds_in_phase"] is not None else "",
            deadline_cell(r),
            r["last_gate_outcome"] or "",
            rag_cell(r["rag"]),
        ]
        table.add_row(*(cells if wide else [cells[0], cells[1], cells[3], cells[5], cells[7]]))
    out.print(table)
    if any(r.get("rehearsal") for r in rows):
        out.print("[yellow]⏩[/yellow] a rehearsal (compressed time), not a partnership of record")


@app.command()
@handles_errors
def show(reference: Reference, as_json: JsonFlag = False) -> None:
    """One partnership's whole record.

    Signatures, phases, every gate review and decision, all tasks."""
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
    """Write the portfolio report (HTML and Markdown).

    Quarterly scorecards and the gate funnel, from the engine's store."""
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
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open tasks past their due date.")] = False,
    mine: Annotated[str | None, typer.Option("--owner", help="Only tasks this person (email) owns.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Open tasks, overdue ones flagged.

    Across the portfolio, or for one partnership."""
    from partnerships.adapters.store import Store, make_engine
    from partnerships.service import commands as service

    store = Store(make_engine(Settings().store_url))
    now = datetime.now(UTC)
    rows = [
        (row, TaskLine.of(row, now))
        for row in store.tasks(
            service.workflow_id_of(reference) if reference else None,
            status=None if include_closed else "open",
        )
    ]
    owner = None if mine is None else mine.strip().lower()
    if owner is not None and "@" not in owner:
        raise UserError([f"--owner: '{mine}' is not an email; tasks belong to people by their email"])
    rows = [(row, line) for row, line in rows if (not overdue or line.overdue) and owner in (None, line.owner)]
    if as_json:
        listed = [{**task_json(row), "overdue": line.overdue} for row, line in rows]
        sys.stdout.write(json.dumps(listed, indent=2) + "\n")
        return
    print_tasks([line for _, line in rows])


@app.command()
@handles_errors
def demo(
    charter_file: Annotated[Path, typer.Option("--charter", help="Charter to run.")] = Path(
        "charters/acme-analytics.yaml"
    ),
    time_scale: Annotated[str, typer.Option("--time-scale", help="How fast time runs.")] = "1w=0.5s",
    review_window: Annotated[
        str, typer.Option("--review-window", help="How long people's waits last (reviews, signing).")
    ] = "1m",
) -> None:
    """Drive an example partnership through every phase.

    In compressed time; needs a running worker."""
    from partnerships.adapters.charter_file import load_charter
    from partnerships.demo.script import drive

    charter = load_charter(charter_file)
    stamp = datetime.now(UTC).strftime("%m%d-%H%M%S")
    charter = charter.model_copy(update={"slug": f"{charter.slug}-demo-{stamp}"})
    run_async(drive(charter, parse_time_scale(time_scale, review_window), out))


@app.command()
@handles_errors
def doctor() -> None:
    """Check the setup: Temporal, store, notifier."""
    from partnerships.service.doctor import doctor_report

    for line in doctor_report(Settings()):
        out.print(escape(line))
