"""Commands that act on a partnership: start, sign, record evidence, decide, exit, close tasks.

Each sends one Update through `partnerships.service`; the workflow's validators answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from partnerships.adapters.config import Settings
from partnerships.adapters.temporal_client import make_client
from partnerships.cli.app import (
    As,
    Reference,
    UserError,
    app,
    connect,
    current_status,
    err,
    handles_errors,
    out,
    record_app,
    run_async,
    task_app,
)
from partnerships.cli.options import parse_time_scale
from partnerships.domain.vocabulary import Outcome, Rag

if TYPE_CHECKING:
    from partnerships.domain.lifecycle import ConditionRequest


@app.command()
@handles_errors
def start(
    file: Annotated[Path, typer.Argument(help="Charter YAML file.")],
    time_scale: Annotated[
        str | None,
        typer.Option(
            "--time-scale",
            help="Rehearse in compressed time: '1w=1s' makes a week last one second. EVERY deadline "
            "shrinks with it (signing expiry, periods, task due dates, review windows): a rehearsal, "
            "never a partnership of record.",
        ),
    ] = None,
    review_window: Annotated[
        str | None,
        typer.Option(
            "--review-window",
            help="With --time-scale: each gate review's window (e.g. 2m, 90s), so there is time to read "
            "the gate (reminded after it, escalated at 1.5x, decided by policy at 2x); signing and "
            "re-commitment windows keep the charter's proportions to it.",
        ),
    ] = None,
    slug: Annotated[
        str | None,
        typer.Option("--slug", help="Start it under this slug instead of the charter's (a second partnership)."),
    ] = None,
) -> None:
    """Start a partnership's workflow; it waits for both sides to sign."""
    from partnerships.adapters.charter_file import load_charter
    from partnerships.adapters.doors import configured_doors
    from partnerships.domain.charter import Charter, charter_warnings
    from partnerships.service import commands as service

    charter = load_charter(file)
    if slug is not None:
        charter = Charter.model_validate({**charter.model_dump(mode="json"), "slug": slug})
    scale = parse_time_scale(time_scale, review_window)
    settings = Settings()
    _refuse_a_slug_the_store_holds(settings, charter.workflow_id, charter.slug)
    for warning in charter_warnings(charter):
        err.print(f"[yellow]warning:[/yellow] {warning.field}: {escape(warning.message)}")

    async def go() -> None:
        client = await make_client(settings)
        await service.start_partnership(
            client, charter, task_queue=settings.task_queue, time_scale=scale, doors=configured_doors()
        )
        out.print(f"[green]started[/green] {charter.workflow_id}: waiting for both sides to sign")
        out.print(f"  {settings.workflow_url(charter.workflow_id)}")

    run_async(go())


def _refuse_a_slug_the_store_holds(settings: Settings, workflow_id: str, slug: str) -> None:
    """A slug names one partnership for good, even once Temporal has forgotten the first one."""
    from partnerships.adapters.store import Store, make_engine

    earlier = next(
        (row for row in Store(make_engine(settings.store_url)).partnerships() if row.id == workflow_id), None
    )
    if earlier is not None:
        raise UserError(
            [
                f"slug: the store already holds a partnership '{slug}' ({earlier.partner}, started "
                f"{earlier.started_at:%Y-%m-%d}); each partnership needs its own slug"
            ]
        )


# ------------------------------------------------------------------ updates


def send_update(reference: str, update: Any, request: Any) -> Any:
    from partnerships.adapters.keys import PersonSigner
    from partnerships.cli.identity import your_key
    from partnerships.service import commands as service

    signer = PersonSigner(your_key(Settings()))

    async def go() -> Any:
        return await service.update(await connect(), reference, update, request, signer)

    result = run_async(go())
    out.print(f"[green]✓[/green] {result.summary} [dim]({result.phase}: {result.step})[/dim]")
    return result


@app.command()
@handles_errors
def sign(
    reference: Reference,
    who: As,
    charter: Annotated[
        Path | None,
        typer.Option(
            "--charter", help="The charter file you read: refused unless it is the one the partnership holds."
        ),
    ] = None,
) -> None:
    """Sign the charter (or an amendment) for your side.

    Only your side's decision owner signs."""
    from partnerships.adapters.charter_file import load_charter
    from partnerships.domain.lifecycle import SignAmendmentRequest, SignRequest, Step
    from workflows import PartnershipWorkflow

    read = load_charter(charter).content_hash() if charter is not None else None
    partnership = run_async(current_status(reference)).partnership
    if partnership.amendment is not None and partnership.step is not Step.SIGNING:
        request = SignAmendmentRequest(signer=who, charter_hash=read)
        send_update(reference, PartnershipWorkflow.sign_amendment, request)
        return
    send_update(reference, PartnershipWorkflow.sign_charter, SignRequest(signer=who, charter_hash=read))


@app.command()
@handles_errors
def amend(
    reference: Reference,
    file: Annotated[Path, typer.Argument(help="The amended charter (YAML).")],
    who: As,
    reason: Annotated[str, typer.Option("--reason", help="What the amendment changes and why.")] = "",
) -> None:
    """Propose a new version of the charter before Run.

    Both sides sign it (`sign`) before it governs."""
    from partnerships.adapters.charter_file import load_charter
    from partnerships.domain.lifecycle import AmendRequest
    from workflows import PartnershipWorkflow

    request = AmendRequest(by=who, charter=load_charter(file), reason=reason)
    send_update(reference, PartnershipWorkflow.amend_charter, request)


@app.command()
@handles_errors
def recommit(
    reference: Reference,
    who: As,
    roi_holds: Annotated[
        bool | None,
        typer.Option(
            "--roi-holds/--roi-fails", help="Does the ROI model still hold at scale? (required)", show_default=False
        ),
    ] = None,
) -> None:
    """Re-commit your side to Run after a passed Walk gate."""
    from partnerships.domain.lifecycle import RecommitRequest
    from workflows import PartnershipWorkflow

    if roi_holds is None:
        # A commitment is never a default: forgetting the flag once recorded that the ROI model fails.
        raise UserError(["--roi-holds/--roi-fails: say whether the ROI model still holds at scale"])

    send_update(
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
    """Record a Crawl pilot's results, or whether it scales."""
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
            baseline = run_async(current_status(reference)).partnership.charter.measurement.metric.baseline
        result = PilotResult(
            customer=pilot or "",
            metric_before=baseline,
            metric_after=after or 0,
            would_recommend=bool(recommends),
        )
    send_update(
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
    """Record Walk adoption, promotion and support burden."""
    from partnerships.domain.lifecycle import WalkResultRequest
    from workflows import PartnershipWorkflow

    send_update(
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
    send_update(
        reference,
        PartnershipWorkflow.record_scorecard,
        ScorecardRequest(recorded_by=who, scorecard=scorecard),
    )


@app.command()
@handles_errors
def decide(
    reference: Reference,
    outcome: Annotated[
        Outcome,
        typer.Argument(help="go, no-go, restart-crawl (Walk), extend (Crawl, Walk), revalidate (QBR) or hold."),
    ],
    who: As,
    reason: Annotated[
        str, typer.Option(help="Why. Required to override a failing gate, to restart Crawl and to hold.")
    ] = "",
    weeks: Annotated[int, typer.Option(help="With extend: how many weeks.")] = 2,
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="With go: a condition, as 'WHAT | OWNER EMAIL | DAYS' (repeat for more). Each becomes a task; "
            "the next gate fails while one is unmet.",
            show_default=False,
        ),
    ] = None,
    recheck_in: Annotated[
        int | None,
        typer.Option("--recheck-in", help="With hold: days until the review reopens.", show_default=False),
    ] = None,
    exit_criterion_met: Annotated[
        list[int] | None,
        typer.Option(
            "--exit-criterion-met",
            help="At a QBR: the number (from 1) of a written exit criterion you judge met; repeat for more.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Vote on the open gate review (reviewers only).

    The review is decided once the charter's quorum agrees."""
    from partnerships.domain.lifecycle import DecisionRequest
    from workflows import PartnershipWorkflow

    send_update(
        reference,
        PartnershipWorkflow.decide,
        DecisionRequest(
            reviewer=who,
            outcome=outcome,
            reason=reason,
            extend_weeks=weeks,
            conditions=parse_conditions(condition or []),
            recheck_in_days=recheck_in,
            exit_criteria_met=exit_criterion_met or [],
        ),
    )


def parse_conditions(texts: list[str]) -> list[ConditionRequest]:
    """'WHAT | OWNER | DAYS' each; every malformed one named on its own line."""
    from pydantic import ValidationError

    from partnerships.domain.lifecycle import parse_condition

    problems, conditions = [], []
    for number, text in enumerate(texts, start=1):
        try:
            conditions.append(parse_condition(text, number))
        except ValidationError as error:
            problems += [f"--condition {number}: {e['loc'][-1]}: {e['msg']}" for e in error.errors()]
        except ValueError as error:
            problems.append(f"--{error}")
    if problems:
        raise UserError(problems)
    return conditions


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

    send_update(reference, PartnershipWorkflow.exit, ExitRequest(by=who, reason=reason))


@task_app.command("done")
@handles_errors
def task_done(
    task_ids: Annotated[list[str], typer.Argument(help="The tasks' ids, as `tasks` shows them.")], who: As
) -> None:
    """Mark one or more tasks of a partnership done."""
    from partnerships.domain.lifecycle import CompleteTaskRequest
    from partnerships.service import commands as service
    from workflows import PartnershipWorkflow

    partnerships = {service.workflow_id_of(task_id) for task_id in task_ids}
    if len(partnerships) > 1:
        raise UserError(
            [f"task_ids: {task_id} belongs to {service.workflow_id_of(task_id)}" for task_id in task_ids]
            + ["task_ids: give tasks of one partnership at a time"]
        )
    send_update(task_ids[0], PartnershipWorkflow.complete_task, CompleteTaskRequest(task_ids=task_ids, by=who))
