"""The portfolio as Temporal's visibility sees it: the query behind `partnerships list`.

Kept apart from the rest of the service, with only the framework's vocabulary and the
search attribute keys, so listing thousands of partnerships starts as fast as the bare SDK.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import decode_typed_search_attributes

from partnerships.domain.vocabulary import WORKFLOW_ID_PREFIX, WORKFLOW_TYPE, Phase, Rag, Step, Tier
from partnerships.engine import search_attributes as keys
from partnerships.engine.refusals import Refused


class PortfolioFilter(BaseModel):
    """What `partnerships list` narrows the portfolio to; every field maps to a visibility clause."""

    phase: str | None = None
    tier: int | None = None
    partner: str | None = None
    rag: str | None = None
    overdue: bool = False
    on_hold: bool = False
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
        raise Refused(problems)
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    # Runs that continued as new are history; the partnership lives on in its latest run.
    clauses.append("ExecutionStatus != 'ContinuedAsNew'" if selection.include_closed else "ExecutionStatus = 'Running'")
    if selection.phase is not None:
        clauses.append(f"{keys.PHASE.name} = {_quoted(selection.phase)}")
    if selection.tier is not None:
        clauses.append(f"{keys.TIER.name} = {selection.tier}")
    if selection.partner is not None:
        clauses.append(f"{keys.PARTNER.name} STARTS_WITH {_quoted(selection.partner.strip())}")
    if selection.rag is not None:
        clauses.append(f"{keys.RAG_STATUS.name} = {_quoted(selection.rag)}")
    if selection.overdue:
        # ReviewDeadline is set only while a review is open, and is when the reviewers get reminded;
        # OverdueTasks only while some open task is past its due date.
        review_overdue = (
            f"{keys.STEP.name} = '{Step.GATE_REVIEW.value}' AND {keys.REVIEW_DEADLINE.name} < '{_utc(now).isoformat()}'"
        )
        clauses.append(f"(({review_overdue}) OR {keys.OVERDUE_TASKS.name} > 0)")
    if selection.on_hold:
        clauses.append(f"{keys.STEP.name} = '{Step.ON_HOLD.value}'")
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
    on_hold: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Partnerships as Temporal's visibility sees them: the same filters as the Web UI.

    `partner` matches the start of the partner's name; `overdue` keeps gate reviews whose
    ReviewDeadline is before `now` (the current time unless given) and partnerships with overdue tasks.
    """
    now = now or datetime.now(UTC)
    selection = PortfolioFilter(
        phase=phase,
        tier=tier,
        partner=partner,
        rag=rag,
        overdue=overdue,
        on_hold=on_hold,
        include_closed=include_closed,
    )
    query = portfolio_query(selection, now)
    rows = [_portfolio_row(execution, now) async for execution in _executions(client, query)]
    return sorted(rows, key=lambda row: row["slug"])


# The SDK's own page size for listing workflows.
PAGE_SIZE = 1000


async def _executions(client: Client, query: str) -> AsyncIterator[WorkflowExecutionInfo]:
    """The raw rows, page by page. Not `client.list_workflows`: it decodes every row's search
    attributes twice (typed, and the deprecated untyped map), which over 10,000 rows was most of
    what `list` waited for."""
    token = b""
    while True:
        page = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=client.namespace, query=query, page_size=PAGE_SIZE, next_page_token=token
            ),
            retry=True,
        )
        for execution in page.executions:
            yield execution
        token = page.next_page_token
        if not token:
            return


def _portfolio_row(execution: WorkflowExecutionInfo, now: datetime) -> dict[str, Any]:
    # One pass over the attributes; TypedSearchAttributes.get scans them all for each key.
    attributes = {pair.key.name: pair.value for pair in decode_typed_search_attributes(execution.search_attributes)}
    workflow_id = execution.execution.workflow_id
    deadline = attributes.get(keys.REVIEW_DEADLINE.name)
    phase_started_at = attributes.get(keys.PHASE_STARTED_AT.name)
    return {
        "workflow_id": workflow_id,
        "slug": workflow_id.removeprefix(WORKFLOW_ID_PREFIX),
        "status": WorkflowExecutionStatus(execution.status).name.lower() if execution.status else None,
        "partner": attributes.get(keys.PARTNER.name),
        "tier": attributes.get(keys.TIER.name),
        "leverage": attributes.get(keys.LEVERAGE.name),
        "phase": attributes.get(keys.PHASE.name),
        "step": attributes.get(keys.STEP.name),
        "phase_started_at": _iso(phase_started_at),
        "seconds_in_phase": round((now - phase_started_at).total_seconds()) if phase_started_at else None,
        "next_deadline": _iso(attributes.get(keys.NEXT_DEADLINE.name)),
        "last_gate_outcome": attributes.get(keys.LAST_GATE_OUTCOME.name),
        "review_deadline": _iso(deadline),
        "overdue": deadline is not None and deadline < now,
        "overdue_tasks": attributes.get(keys.OVERDUE_TASKS.name) or 0,
        "rag": attributes.get(keys.RAG_STATUS.name),
        # Compressed time ("rehearsal: 1 week = 0.5 s"); None for a partnership of record.
        "rehearsal": attributes.get(keys.TIME_SCALE.name),
    }
