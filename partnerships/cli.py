"""`partnerships`: drive partnerships from a terminal.

Commands parse, call `partnerships.service`, and print. A person's mistake gets
one line per problem and exit code 1, never a traceback (unless --debug).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from temporalio.client import Client
from temporalio.service import RPCError

from partnerships.config import Settings
from partnerships.domain.vocabulary import Outcome, Phase, Rag
from partnerships.temporal_client import make_client

if TYPE_CHECKING:
    from partnerships.contracts import PartnershipStatus
    from partnerships.domain.gates import GateEvaluation
    from partnerships.domain.lifecycle import Signature, TimeScale
    from partnerships.store import Store

# The store (sqlalchemy), templates and report renderer are imported inside the commands
# that use them: `list` and the Updates stay as quick to start as the bare SDK.

app = typer.Typer(
    help="Run crawl-walk-run partnerships on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
charter_app = typer.Typer(help="Check and render charters.", no_args_is_help=True)
record_app = typer.Typer(
    help="Record evidence: Crawl pilot results, Walk adoption, a QBR scorecard.",
    no_args_is_help=True,
)
task_app = typer.Typer(help="Work on tasks.", no_args_is_help=True)
app.add_typer(charter_app, name="charter")
app.add_typer(record_app, name="record")
app.add_typer(task_app, name="task")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_debug = {"on": False}

T = TypeVar("T")

Reference = Annotated[str, typer.Argument(help="Partnership slug or workflow id.", show_default=False)]
As = Annotated[
    str,
    typer.Option(
        "--as",
        help="Who you are: your email in the charter.",
        envvar="PARTNERSHIPS_USER",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class UserError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _fail(problems: list[str]) -> None:
    for problem in problems:
        err.print(f"[red]error:[/red] {escape(problem)}")
    raise typer.Exit(1)


def handles_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Turn the errors a person can cause into one line each and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as error:
            if _debug["on"]:
                raise
            _fail(_explain(error))
            raise  # unreachable: _fail exits

    return wrapper


def _explain(error: Exception) -> list[str]:
    from partnerships import service
    from partnerships.charter_file import CharterError, format_validation_error

    if isinstance(error, UserError | CharterError):
        return error.problems
    if isinstance(error, service.Refused):
        return str(error).splitlines()
    if isinstance(error, ValidationError):
        return format_validation_error(error)
    settings = Settings()
    if isinstance(error, RPCError) or "connect" in str(error).lower():
        return [
            f"cannot reach Temporal at {settings.temporal_address} ({str(error).splitlines()[0][:160]}); "
            "is the server running? (`make server`, or set TEMPORAL_ADDRESS)"
        ]
    return [f"{type(error).__name__}: {error} (run with --debug for the traceback)"]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _client() -> Client:
    return await make_client(Settings())


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.", envvar="PARTNERSHIPS_DEBUG")] = False,
) -> None:
    _debug["on"] = debug


# ------------------------------------------------------------------ charter


@charter_app.command("check")
@handles_errors
def charter_check(file: Annotated[Path, typer.Argument(help="Charter YAML file.")]) -> None:
    """Validate a charter: every problem at once, one line per field; then the framework's warnings."""
    from partnerships.charter_file import load_charter
    from partnerships.domain.charter import charter_warnings

    charter = load_charter(file)
    out.print(
        f"[green]✓[/green] {file}: a valid charter for [bold]{charter.partner.name}[/bold] "
        f"(tier {int(charter.tier)}, {charter.leverage_strength.value} leverage, workflow {charter.workflow_id})"
    )
    for warning in charter_warnings(charter):
        style = "bold red" if warning.loud else "yellow"
        out.print(f"[{style}]warning:[/{style}] {warning.field}: {escape(warning.message)}")


@charter_app.command("render")
@handles_errors
def charter_render(
    file: Annotated[Path, typer.Argument(help="Charter YAML file.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Render a charter as Markdown with the template in charters/charter.md.j2."""
    from partnerships.charter_file import load_charter
    from partnerships.domain.charter import charter_warnings

    charter = load_charter(file)
    from partnerships.templates import make_environment

    environment = make_environment(Settings().templates_dir)
    text = environment.get_template("charter.md.j2").render(c=charter, warnings=charter_warnings(charter))
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


# -------------------------------------------------------------------- start

_SCALE = re.compile(r"^\s*1\s*w(?:eek)?\s*=\s*([0-9]*\.?[0-9]+)\s*(s|sec|second|seconds|m|min|minutes?)\s*$")


def parse_time_scale(text: str | None) -> TimeScale:
    """`1w=1s` (one week lasts one second), `1w=2min`, or a number of seconds per week."""
    from partnerships.domain.lifecycle import TimeScale

    if not text:
        return TimeScale()
    match = _SCALE.match(text)
    try:
        seconds = float(match.group(1)) * (60 if match.group(2).startswith("m") else 1) if match else float(text)
        return TimeScale(seconds_per_week=seconds)
    except (ValueError, ValidationError):
        raise UserError([f"--time-scale: '{text}' is not a time scale; use e.g. 1w=1s or 1w=2min"]) from None


@app.command()
@handles_errors
def start(
    file: Annotated[Path, typer.Argument(help="Charter YAML file.")],
    time_scale: Annotated[
        str | None,
        typer.Option("--time-scale", help="Compress time for demos: '1w=1s' makes a week last one second."),
    ] = None,
) -> None:
    """Start the partnership's workflow. It waits for both sides to sign the charter."""
    from partnerships import service
    from partnerships.charter_file import load_charter
    from partnerships.domain.charter import charter_warnings

    charter = load_charter(file)
    scale = parse_time_scale(time_scale)
    for warning in charter_warnings(charter):
        err.print(f"[yellow]warning:[/yellow] {warning.field}: {escape(warning.message)}")

    async def go() -> None:
        settings = Settings()
        client = await make_client(settings)
        await service.start_partnership(client, charter, task_queue=settings.task_queue, time_scale=scale)
        out.print(f"[green]started[/green] {charter.workflow_id}: waiting for both sides to sign")
        out.print(f"  {settings.workflow_url(charter.workflow_id)}")

    run_async(go())


# ------------------------------------------------------------------ updates


def _update(reference: str, update: Any, request: Any) -> Any:
    from partnerships import service

    async def go() -> Any:
        return await service.update(await _client(), reference, update, request)

    result = run_async(go())
    out.print(f"[green]✓[/green] {result.summary} [dim]({result.phase}: {result.step})[/dim]")
    return result


@app.command()
@handles_errors
def sign(reference: Reference, who: As) -> None:
    """Sign the charter as your side's decision owner."""
    from partnerships.domain.lifecycle import SignRequest
    from workflows import PartnershipWorkflow

    _update(reference, PartnershipWorkflow.sign_charter, SignRequest(signer=who))


@app.command()
@handles_errors
def recommit(
    reference: Reference,
    who: As,
    roi_holds: Annotated[
        bool,
        typer.Option("--roi-holds/--roi-fails", help="Does the ROI model still hold at scale?"),
    ] = False,
) -> None:
    """Re-commit your side to Run after a passed Walk gate."""
    from partnerships.domain.lifecycle import RecommitRequest
    from workflows import PartnershipWorkflow

    _update(
        reference,
        PartnershipWorkflow.recommit,
        RecommitRequest(signer=who, roi_model_holds=roi_holds),
    )


@record_app.command("crawl")
@handles_errors
def record_crawl(
    reference: Reference,
    who: As,
    pilot: Annotated[str | None, typer.Option(help="Pilot customer's name.")] = None,
    before: Annotated[
        float | None, typer.Option(help="The metric before (defaults to the charter's baseline).")
    ] = None,
    after: Annotated[float | None, typer.Option(help="The metric measured in the pilot.")] = None,
    recommends: Annotated[
        bool | None,
        typer.Option("--recommends/--would-not-recommend", help="Would the pilot recommend it to peers?"),
    ] = None,
    can_scale: Annotated[
        bool | None, typer.Option("--can-scale/--cannot-scale", help="Can the integration scale?")
    ] = None,
) -> None:
    """Record a Crawl pilot's results, and/or whether the integration can scale."""
    from partnerships.domain.gates import PilotResult
    from partnerships.domain.lifecycle import PilotResultRequest
    from workflows import PartnershipWorkflow

    result = None
    if pilot is not None or after is not None:
        problems = []
        if pilot is None:
            problems.append("--pilot: name the pilot customer")
        if after is None:
            problems.append("--after: give the metric measured in the pilot")
        if recommends is None:
            problems.append("--recommends/--would-not-recommend: say whether the pilot would recommend it")
        if problems:
            raise UserError(problems)
        baseline = before
        if baseline is None:
            baseline = run_async(_status(reference)).partnership.charter.measurement.metric.baseline
        result = PilotResult(
            customer=pilot or "",
            metric_before=baseline,
            metric_after=after or 0,
            would_recommend=bool(recommends),
        )
    _update(
        reference,
        PartnershipWorkflow.record_pilot_results,
        PilotResultRequest(recorded_by=who, pilot=result, integration_can_scale=can_scale),
    )


@record_app.command("walk")
@handles_errors
def record_walk(
    reference: Reference,
    who: As,
    invited: Annotated[int | None, typer.Option(help="Customers invited in Walk.")] = None,
    adopted: Annotated[int | None, typer.Option(help="Invited customers who adopted.")] = None,
    partner_promoting: Annotated[
        bool | None,
        typer.Option(
            "--partner-promoting/--partner-not-promoting",
            help="Is the partner actively promoting it?",
        ),
    ] = None,
    support_manageable: Annotated[
        bool | None,
        typer.Option("--support-manageable/--support-overloaded", help="Is the support burden manageable?"),
    ] = None,
) -> None:
    """Record Walk invitations and adoptions, partner promotion and support burden."""
    from partnerships.domain.lifecycle import WalkResultRequest
    from workflows import PartnershipWorkflow

    _update(
        reference,
        PartnershipWorkflow.record_walk_results,
        WalkResultRequest(
            recorded_by=who,
            invited=invited,
            adopted=adopted,
            partner_promoting=partner_promoting,
            support_manageable=support_manageable,
        ),
    )


@record_app.command("qbr")
@handles_errors
def record_qbr(
    reference: Reference,
    who: As,
    rag: Annotated[Rag, typer.Option(help="Overall status this quarter.", show_default=False)],
    deals: Annotated[int, typer.Option(help="Deals sourced.")] = 0,
    pipeline: Annotated[float, typer.Option(help="Pipeline sourced.")] = 0,
    revenue: Annotated[float, typer.Option(help="Revenue closed.")] = 0,
    win_rate: Annotated[float, typer.Option(help="Win rate, %.")] = 0,
    average_deal: Annotated[float, typer.Option(help="Average deal size.")] = 0,
    engagements: Annotated[int, typer.Option(help="Active engagements.")] = 0,
    certifications: Annotated[int, typer.Option(help="Trainings/certifications completed.")] = 0,
    csat: Annotated[float, typer.Option(help="Customer satisfaction, 0-10.")] = 0,
    integration_rate: Annotated[float | None, typer.Option(help="Integration rate, %.")] = None,
    time_to_value: Annotated[float | None, typer.Option(help="Time to value, days.")] = None,
    notes: Annotated[str, typer.Option(help="Notes.")] = "",
) -> None:
    """Record this quarter's scorecard for the QBR."""
    from partnerships.domain.gates import Scorecard
    from partnerships.domain.lifecycle import ScorecardRequest
    from workflows import PartnershipWorkflow

    scorecard = Scorecard(
        deals_sourced=deals,
        pipeline_sourced=pipeline,
        revenue_closed=revenue,
        win_rate_pct=win_rate,
        average_deal_size=average_deal,
        active_engagements=engagements,
        certifications_completed=certifications,
        customer_satisfaction=csat,
        integration_rate_pct=integration_rate,
        time_to_value_days=time_to_value,
        rag=rag,
        notes=notes,
    )
    _update(
        reference,
        PartnershipWorkflow.record_scorecard,
        ScorecardRequest(recorded_by=who, scorecard=scorecard),
    )


@app.command()
@handles_errors
def decide(
    reference: Reference,
    outcome: Annotated[Outcome, typer.Argument(help="go, no-go, restart-crawl (Walk only) or extend.")],
    who: As,
    reason: Annotated[str, typer.Option(help="Why. Required to override a failing gate or restart Crawl.")] = "",
    weeks: Annotated[int, typer.Option(help="With extend: how many weeks.")] = 2,
) -> None:
    """Decide the open gate review (reviewers only)."""
    from partnerships.domain.lifecycle import DecisionRequest
    from workflows import PartnershipWorkflow

    _update(
        reference,
        PartnershipWorkflow.decide,
        DecisionRequest(reviewer=who, outcome=outcome, reason=reason, extend_weeks=weeks),
    )


@app.command("exit")
@handles_errors
def exit_partnership(
    reference: Reference,
    who: As,
    reason: Annotated[str, typer.Option(help="Why the partnership ends.", show_default=False)],
) -> None:
    """End the partnership now; exit tasks are created and sent."""
    from partnerships.domain.lifecycle import ExitRequest
    from workflows import PartnershipWorkflow

    _update(reference, PartnershipWorkflow.exit, ExitRequest(by=who, reason=reason))


@task_app.command("done")
@handles_errors
def task_done(
    task_ids: Annotated[list[str], typer.Argument(help="The tasks' ids, as `tasks` shows them.")], who: As
) -> None:
    """Mark one or more tasks of a partnership done."""
    from partnerships import service
    from partnerships.domain.lifecycle import CompleteTaskRequest
    from workflows import PartnershipWorkflow

    partnerships = {service.workflow_id_of(task_id) for task_id in task_ids}
    if len(partnerships) > 1:
        raise UserError(
            [f"task_ids: {task_id} belongs to {service.workflow_id_of(task_id)}" for task_id in task_ids]
            + ["task_ids: give tasks of one partnership at a time"]
        )
    _update(task_ids[0], PartnershipWorkflow.complete_task, CompleteTaskRequest(task_ids=task_ids, by=who))


# ------------------------------------------------------------------- views


async def _status(reference: str) -> PartnershipStatus:
    from partnerships import service

    return await service.status(await _client(), reference)


def status_json(status: PartnershipStatus) -> dict[str, Any]:
    p = status.partnership
    return {
        "workflow_id": p.workflow_id,
        "slug": p.charter.slug,
        "partner": p.charter.partner.name,
        "tier": int(p.charter.tier),
        "leverage": p.charter.leverage_strength.value,
        "phase": p.phase.value,
        "step": p.step.value,
        "awaiting": status.awaiting,
        "crawl_attempt": p.crawl_attempt,
        "quarter": p.quarter,
        "phase_ends_at": p.phase_ends_at.isoformat() if p.phase_ends_at else None,
        "signatures": [s.model_dump(mode="json") for s in p.signatures],
        "gate": status.current_gate.model_dump(mode="json") | {"passed": status.current_gate.passed}
        if status.current_gate
        else None,
        "decisions": [
            {
                "review_id": r.id,
                "gate": r.gate.value,
                "label": r.label,
                "recommendation": r.evaluation.recommendation.value,
                "passed": r.evaluation.passed,
                **(r.decision.model_dump(mode="json") if r.decision else {}),
            }
            for r in p.reviews
        ],
        "open_tasks": [t.model_dump(mode="json") for t in p.open_tasks],
        "end_reason": p.end_reason,
    }


def _print_gate(evaluation: GateEvaluation, title: str) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("criterion", "measured", "threshold", ""):
        table.add_column(column)
    for c in evaluation.criteria:
        table.add_row(
            c.question,
            c.measured or "[dim]not recorded[/dim]",
            c.threshold,
            "[green]pass[/green]" if c.passed else "[red]fail[/red]",
        )
    out.print(table)
    out.print(f"recommendation: [bold]{evaluation.recommendation.value}[/bold] — {evaluation.rationale}")


@app.command()
@handles_errors
def status(reference: Reference, as_json: JsonFlag = False) -> None:
    """Where one partnership stands: phase, gate, decisions, open tasks."""
    current = run_async(_status(reference))
    if as_json:
        sys.stdout.write(json.dumps(status_json(current), indent=2) + "\n")
        return
    p = current.partnership
    out.print(f"[bold]{p.charter.partner.name}[/bold] [dim]{p.workflow_id}[/dim]")
    out.print(
        f"tier {int(p.charter.tier)} · {p.charter.leverage_strength.value} leverage · "
        f"[bold cyan]{p.phase_label()}[/bold cyan] ({p.step.value})"
    )
    out.print(f"awaiting: {current.awaiting}")
    if p.signatures:
        out.print(
            "signed: " + ", ".join(f"{s.name} ({s.side.value}) {s.signed_at:%Y-%m-%d %H:%M}" for s in p.signatures)
        )
    if p.end_reason:
        out.print(f"ended: {p.end_reason}")
    if current.current_gate:
        title = p.review.label if p.review else f"{p.phase_label()} gate so far"
        _print_gate(current.current_gate, title)
    for review in p.reviews:
        d = review.decision
        if d:
            flag = " [bold red]OVERRIDE[/bold red]" if d.overrides_failing_gate else ""
            out.print(
                f"• {review.label}: [bold]{d.outcome.value}[/bold] by {d.decided_by_name}{flag} "
                f"{d.decided_at:%Y-%m-%d %H:%M}" + (f" — {d.reason}" if d.reason else "")
            )
    if p.open_tasks:
        out.print(f"open tasks ({len(p.open_tasks)}):")
        for t in p.open_tasks:
            out.print(f"  ☐ {t.title} [dim]{t.owner} · {t.id}[/dim]")


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
    from partnerships.durations import humanize
    from partnerships.portfolio_query import list_partnerships

    async def go() -> list[dict[str, Any]]:
        return await list_partnerships(
            await _client(),
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
            escape(r["slug"]),
            escape(r["partner"] or ""),
            str(r["tier"] or ""),
            f"{r['phase']} · {r['step']}",
            humanize(timedelta(seconds=r["seconds_in_phase"])) if r["seconds_in_phase"] is not None else "",
            _deadline_cell(r),
            r["last_gate_outcome"] or "",
            _rag_cell(r["rag"]),
        )
    out.print(table)


def _deadline_cell(row: dict[str, Any]) -> str:
    deadline = row["next_deadline"]
    if deadline is None:
        return ""
    text = f"{datetime.fromisoformat(deadline):%Y-%m-%d %H:%M}"
    return f"[bold red]{text} overdue[/bold red]" if row["overdue"] else text


_RAG_STYLES = {"red": "bold red", "amber": "bold yellow", "green": "bold green"}


def _rag_cell(rag: str | None) -> str:
    return f"[{_RAG_STYLES.get(rag, 'bold')}]{rag}[/]" if rag else ""


@app.command()
@handles_errors
def show(reference: Reference, as_json: JsonFlag = False) -> None:
    """One partnership's whole record: signatures, phases, every gate review and decision, all tasks."""
    current = run_async(_status(reference))
    from partnerships.store import Store, make_engine

    store = Store(make_engine(Settings().store_url))
    record = _full_record(current, store)
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2, default=_json_default) + "\n")
        return
    _print_record(current, record)


def _full_record(current: PartnershipStatus, store: Store) -> dict[str, Any]:
    """The workflow's state, completed by the store (which keeps every review, not only the latest)."""
    from partnerships.portfolio import PartnershipFacts, phase_periods

    p = current.partnership
    from partnerships.report import load_partnership, review_facts_from_state

    _, stored_reviews, tasks = load_partnership(store, p.workflow_id)
    reviews = {r.id: r for r in stored_reviews}
    # The workflow's copies are the freshest (the open review changes with new evidence).
    for review in [*p.reviews, *([p.review] if p.review else [])]:
        reviews[review.id] = review_facts_from_state(p.workflow_id, review)
    ordered = sorted(reviews.values(), key=lambda r: r.opened_at)
    facts = PartnershipFacts(
        id=p.workflow_id,
        slug=p.charter.slug,
        partner=p.charter.partner.name,
        tier=int(p.charter.tier),
        phase=p.phase.value,
        step=p.step.value,
        started_at=p.started_at,
        phase_started_at=p.phase_started_at,
        end_reason=p.end_reason,
    )
    now = datetime.now(UTC)
    return {
        "partnership": status_json(current),
        "started_at": p.started_at,
        "signatures": [s.model_dump(mode="json") for s in p.signatures],
        "recommitments": [s.model_dump(mode="json") for s in p.recommitments],
        "phases": [
            {
                "phase": period.phase,
                "started_at": period.started_at,
                "ended_at": period.ended_at,
                "seconds": round(period.duration(now).total_seconds()),
            }
            for period in phase_periods(
                facts,
                ordered,
                tasks,
                signed_at=_both_signed_at(p.signatures),
                recommitted_at=_both_signed_at(p.recommitments) if p.phase in (Phase.RUN, Phase.COMPLETED) else None,
            )
        ],
        "reviews": [dataclasses.asdict(r) for r in ordered],
        "tasks": [dataclasses.asdict(t) for t in tasks],
    }


def _both_signed_at(signatures: list[Signature]) -> datetime | None:
    return max(s.signed_at for s in signatures) if len(signatures) == 2 else None


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment:%Y-%m-%d %H:%M}"


def _print_record(current: PartnershipStatus, record: dict[str, Any]) -> None:
    p = current.partnership
    out.print(f"[bold]{escape(p.charter.partner.name)}[/bold] [dim]{p.workflow_id}[/dim]")
    out.print(
        f"tier {int(p.charter.tier)} · {p.charter.leverage_strength.value} leverage · "
        f"[bold cyan]{p.phase_label()}[/bold cyan] ({p.step.value})"
    )
    out.print(f"awaiting: {escape(current.awaiting)}")
    if p.end_reason:
        out.print(f"ended: {escape(p.end_reason)}")
    out.print(f"\n[bold]Charter[/bold]\n  sent for signature {_when(p.started_at)}")
    for s in p.signatures:
        out.print(f"  signed by {escape(s.name)} ({s.side.value}) {_when(s.signed_at)}")
    for s in p.recommitments:
        out.print(f"  re-committed to Run: {escape(s.name)} ({s.side.value}) {_when(s.signed_at)}")
    _print_phases(record["phases"])
    for review in record["reviews"]:
        _print_review(review)
    _print_tasks(record["tasks"])


def _print_phases(phases: list[dict[str, Any]]) -> None:
    from partnerships.durations import humanize

    table = Table(title="Phases", title_justify="left")
    for column in ("phase", "from", "to", "time"):
        table.add_column(column)
    for period in phases:
        table.add_row(
            period["phase"],
            _when(period["started_at"]),
            _when(period["ended_at"]) or "[dim]now[/dim]",
            humanize(timedelta(seconds=period["seconds"])),
        )
    out.print(table)


def _evidence_lines(evidence: dict[str, Any]) -> list[str]:
    def describe(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, ""))
        if isinstance(value, list):
            return "; ".join(describe(item) for item in value) or "none"
        return "not recorded" if value is None else str(value)

    return [f"{key}: {describe(value)}" for key, value in evidence.items()]


def _print_review(review: dict[str, Any]) -> None:
    out.print(
        f"\n[bold]{escape(review['label'])}[/bold] [dim]{review['id']} · opened {_when(review['opened_at'])}[/dim]"
    )
    for line in _evidence_lines(review["evidence"]):
        out.print(f"  evidence · {escape(line)}")
    for c in review["criteria"]:
        verdict = "[green]pass[/green]" if c["passed"] else "[red]fail[/red]"
        measured = escape(c["measured"] or "not recorded")
        out.print(f"  {verdict} {escape(c['question'])} — {measured} (needs {escape(c['threshold'])})")
    out.print(f"  recommendation: [bold]{review['recommendation']}[/bold] — {escape(review['rationale'])}")
    if review["outcome"] is None:
        out.print("  decision: [yellow]awaited[/yellow]")
        return
    flags = ("[bold red] OVERRIDE[/bold red]" if review["overrides_failing_gate"] else "") + (
        " [bold magenta]BY POLICY[/bold magenta]" if review["by_policy"] else ""
    )
    out.print(
        f"  decision: [bold]{review['outcome']}[/bold]{flags} by {escape(review['decided_by_name'] or '')} "
        f"<{escape(review['decided_by'] or '')}> {_when(review['decided_at'])}"
        + (f" — {escape(review['reason'])}" if review["reason"] else "")
    )


def _print_tasks(tasks: list[dict[str, Any]]) -> None:
    if not tasks:
        out.print("\n[dim]no tasks in the store[/dim]")
        return
    table = Table(title="Tasks", title_justify="left")
    for column in ("task", "title", "owner", "status", "created", "due", "closed"):
        table.add_column(column)
    for t in tasks:
        closed = f"{_when(t['closed_at'])} by {t['closed_by']}" if t["closed_at"] else ""
        table.add_row(
            escape(t["id"]),
            escape(t["title"]),
            escape(t["owner"]),
            t["status"],
            _when(t["created_at"]),
            _when(t["due_at"]),
            escape(closed),
        )
    out.print(table)


@app.command()
@handles_errors
def report(
    report_format: Annotated[str, typer.Option("--format", help="html, md or both.")] = "both",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the report into.")] = Path("reports"),
) -> None:
    """The portfolio's quarterly scorecard and gate funnel, from the engine's store."""
    from partnerships.portfolio import ReportFormat, build_report

    try:
        formats = ReportFormat(report_format)
    except ValueError:
        raise UserError([f"--format: '{report_format}' is not a format (html, md or both)"]) from None
    settings = Settings()
    from partnerships.report import load_portfolio, write_report
    from partnerships.store import Store, make_engine
    from partnerships.templates import make_environment

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
    from partnerships import service
    from partnerships.store import Store, make_engine

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
    from partnerships.charter_file import load_charter
    from partnerships.demo_script import drive

    charter = load_charter(charter_file)
    stamp = datetime.now(UTC).strftime("%m%d-%H%M%S")
    charter = charter.model_copy(update={"slug": f"{charter.slug}-demo-{stamp}"})
    run_async(drive(charter, parse_time_scale(time_scale), out))


@app.command()
@handles_errors
def doctor() -> None:
    """Which notifier is active, whether Temporal is reachable, which store is used."""
    from partnerships.slack.doctor import doctor_report

    for line in doctor_report(Settings()):
        out.print(escape(line))


def main() -> None:
    try:
        app()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal client's native threads can outlive a short command and crash the
    # interpreter's shutdown (sdk-python #300); everything is printed, so leave at once.
    os._exit(code)
