"""What the CLI (and Slack, and tests) do to partnerships, over a Temporal client.

Thin on purpose: start a workflow, send it Updates, query it. Validation happens
in the workflow's Update validators, so every door gets the same answers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from partnerships import visibility
from partnerships.contracts import PartnershipStatus, StartPartnership
from partnerships.domain.charter import WORKFLOW_ID_PREFIX, Charter, Tier, workflow_id_for
from partnerships.domain.gates import Rag
from partnerships.domain.lifecycle import Phase, Step, TimeScale
from workflows import PartnershipWorkflow


class Refused(Exception):
    """A request the engine turned down. The message is for people: one line per problem."""


def workflow_id_of(reference: str) -> str:
    """Accept a slug, a workflow id, or a task id (`<workflow id>:<batch>:<task>`)."""
    reference = reference.strip().split(":", 1)[0]
    return reference if reference.startswith(WORKFLOW_ID_PREFIX) else workflow_id_for(reference)


async def start_partnership(
    client: Client,
    charter: Charter,
    *,
    task_queue: str,
    time_scale: TimeScale | None = None,
    run_history_limit: int | None = None,
) -> WorkflowHandle[PartnershipWorkflow, Any]:
    start = StartPartnership(charter=charter, time_scale=time_scale or TimeScale())
    if run_history_limit is not None:
        start.run_history_limit = run_history_limit
    try:
        return await client.start_workflow(
            PartnershipWorkflow.run,
            start,
            id=charter.workflow_id,
            task_queue=task_queue,
            # A slug names one partnership for good: its tasks and records are keyed by it.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(visibility.initial_search_attributes(charter)),
            static_summary=f"{charter.partner.name} — tier {int(charter.tier)} {charter.partner.kind.value} "
            "partnership",
            static_details=_static_details(charter),
        )
    except WorkflowAlreadyStartedError:
        raise Refused(
            f"slug: a partnership '{charter.slug}' already exists (workflow {charter.workflow_id}); "
            "each partnership needs its own slug"
        ) from None


def _static_details(charter: Charter) -> str:
    goals = "\n".join(f"- {g}" for g in charter.goals.us + charter.goals.partner + charter.goals.customers)
    return (
        f"**Partner:** {charter.partner.name} ({charter.partner.kind.value})  \n"
        f"**Tier:** {int(charter.tier)} — {charter.tier.label}  \n"
        f"**Leverage:** {', '.join(lv.value for lv in charter.leverage)} ({charter.leverage_strength.value})  \n"
        f"**Metric:** {charter.measurement.metric.name}, baseline {charter.measurement.metric.baseline:g} "
        f"{charter.measurement.metric.unit} ({charter.measurement.metric.direction.value})\n\n"
        f"**Goals**\n\n{goals}"
    )


def handle_for(client: Client, reference: str) -> WorkflowHandle[PartnershipWorkflow, Any]:
    return client.get_workflow_handle_for(PartnershipWorkflow.run, workflow_id_of(reference))


async def status(client: Client, reference: str) -> PartnershipStatus:
    handle = handle_for(client, reference)
    try:
        return await handle.query(PartnershipWorkflow.status)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise Refused(f"no partnership '{reference}' (workflow {handle.id} not found)") from None
        raise


async def update(client: Client, reference: str, update: Any, request: Any) -> Any:
    """Send an Update; a validator's refusal becomes `Refused` with its reasons."""
    handle = handle_for(client, reference)
    try:
        return await handle.execute_update(update, request)
    except WorkflowUpdateFailedError as error:
        raise Refused(rejection_reason(error)) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            described = await _describe_missing(client, handle.id)
            raise Refused(described) from None
        raise


_PYDANTIC_ERROR = re.compile(r"^(?P<field>\S[^\n]*)\n  (?P<message>[^\n\[]+?)\s*\[type=", re.MULTILINE)


def rejection_reason(error: WorkflowUpdateFailedError) -> str:
    """The validator's words; for a payload the workflow could not even decode, its field errors."""
    cause: BaseException | None = error.cause
    while isinstance(cause, ApplicationError) and isinstance(cause.cause, ApplicationError):
        cause = cause.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    if isinstance(cause, ApplicationError) and cause.type == "ValidationError":
        fields = [f"{m['field'].strip()}: {m['message'].strip()}" for m in _PYDANTIC_ERROR.finditer(message)]
        return "\n".join(fields) or message
    return message


async def _describe_missing(client: Client, workflow_id: str) -> str:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return f"no partnership with workflow id {workflow_id}"
    if description.status is not WorkflowExecutionStatus.RUNNING:
        state = description.status.name.lower() if description.status else "closed"
        return f"{workflow_id} is closed ({state}): nothing more can be recorded"
    return f"{workflow_id} did not accept the request"


class PortfolioFilter(BaseModel):
    """What `partnerships list` narrows the portfolio to; every field maps to a visibility clause."""

    phase: str | None = None
    tier: int | None = None
    partner: str | None = None
    rag: str | None = None
    overdue: bool = False
    include_closed: bool = False


def _quoted(value: str) -> str:
    # Visibility queries are SQL-like: a quote inside a literal is doubled, never left to end it.
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _filter_problems(selection: PortfolioFilter) -> list[str]:
    problems = []
    if selection.phase is not None and selection.phase not in {p.value for p in Phase}:
        problems.append(f"--phase: '{selection.phase}' is not a phase ({', '.join(p.value for p in Phase)})")
    if selection.tier is not None and selection.tier not in {int(t) for t in Tier}:
        problems.append(f"--tier: {selection.tier} is not a tier ({', '.join(str(int(t)) for t in Tier)})")
    if selection.rag is not None and selection.rag not in {r.value for r in Rag}:
        problems.append(f"--rag: '{selection.rag}' is not a RAG status ({', '.join(r.value for r in Rag)})")
    if selection.partner is not None and not selection.partner.strip():
        problems.append("--partner: give the start of a partner's name")
    return problems


def portfolio_query(selection: PortfolioFilter, now: datetime) -> str:
    """The visibility query for a selection: paste it into the Web UI's list to see the same rows."""
    problems = _filter_problems(selection)
    if problems:
        raise Refused("\n".join(problems))
    clauses = [f"WorkflowType = '{PartnershipWorkflow.__name__}'"]
    # Runs that continued as new are history; the partnership lives on in its latest run.
    clauses.append("ExecutionStatus != 'ContinuedAsNew'" if selection.include_closed else "ExecutionStatus = 'Running'")
    if selection.phase is not None:
        clauses.append(f"{visibility.PHASE.name} = {_quoted(selection.phase)}")
    if selection.tier is not None:
        clauses.append(f"{visibility.TIER.name} = {selection.tier}")
    if selection.partner is not None:
        clauses.append(f"{visibility.PARTNER.name} STARTS_WITH {_quoted(selection.partner.strip())}")
    if selection.rag is not None:
        clauses.append(f"{visibility.RAG_STATUS.name} = {_quoted(selection.rag)}")
    if selection.overdue:
        # ReviewDeadline is set only while a review is open, and is when the reviewers get reminded.
        clauses.append(f"{visibility.STEP.name} = '{Step.GATE_REVIEW.value}'")
        clauses.append(f"{visibility.REVIEW_DEADLINE.name} < '{_utc(now).isoformat()}'")
    return " AND ".join(clauses)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


async def list_partnerships(
    client: Client,
    *,
    phase: str | None = None,
    include_closed: bool = False,
    tier: int | None = None,
    partner: str | None = None,
    rag: str | None = None,
    overdue: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Partnerships as Temporal's visibility sees them: the same filters as the Web UI.

    `partner` matches the start of the partner's name; `overdue` keeps gate reviews whose
    ReviewDeadline is before `now` (the current time unless given).
    """
    now = now or datetime.now(UTC)
    selection = PortfolioFilter(
        phase=phase, tier=tier, partner=partner, rag=rag, overdue=overdue, include_closed=include_closed
    )
    query = portfolio_query(selection, now)
    rows = [_portfolio_row(execution, now) async for execution in client.list_workflows(query)]
    return sorted(rows, key=lambda row: row["slug"])


def _portfolio_row(execution: WorkflowExecution, now: datetime) -> dict[str, Any]:
    attributes = execution.typed_search_attributes
    deadline = attributes.get(visibility.REVIEW_DEADLINE)
    phase_started_at = attributes.get(visibility.PHASE_STARTED_AT)
    return {
        "workflow_id": execution.id,
        "slug": execution.id.removeprefix(WORKFLOW_ID_PREFIX),
        "status": execution.status.name.lower() if execution.status else None,
        "partner": attributes.get(visibility.PARTNER),
        "tier": attributes.get(visibility.TIER),
        "leverage": attributes.get(visibility.LEVERAGE),
        "phase": attributes.get(visibility.PHASE),
        "step": attributes.get(visibility.STEP),
        "phase_started_at": _iso(phase_started_at),
        "seconds_in_phase": round((now - phase_started_at).total_seconds()) if phase_started_at else None,
        "next_deadline": _iso(attributes.get(visibility.NEXT_DEADLINE)),
        "last_gate_outcome": attributes.get(visibility.LAST_GATE_OUTCOME),
        "review_deadline": _iso(deadline),
        "overdue": deadline is not None and deadline < now,
        "rag": attributes.get(visibility.RAG_STATUS),
    }
