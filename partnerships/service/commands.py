"""What the CLI (and Slack, and tests) do to partnerships, over a Temporal client.

Thin on purpose: start a workflow, send it Updates, query it. Validation happens
in the workflow's Update validators, so every door gets the same answers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from partnerships.adapters.keys import Signer
from partnerships.adapters.temporal_client import workflow_pollers
from partnerships.domain.charter import Charter
from partnerships.domain.lifecycle import TimeScale
from partnerships.domain.vocabulary import WORKFLOW_ID_PREFIX, WORKFLOW_TYPE, workflow_id_for
from partnerships.engine import visibility
from partnerships.engine.contracts import PartnershipOutcome, PartnershipStatus, StartPartnership
from partnerships.engine.proofs import Doors
from partnerships.engine.refusals import Refused, problems_of
from partnerships.service.portfolio_query import PortfolioFilter, list_partnerships, portfolio_query
from workflows import PartnershipWorkflow

__all__ = ["PortfolioFilter", "Refused", "Unanswered", "list_partnerships", "portfolio_query"]

# Only a worker answers a partnership's status or takes a person's act. How long a door waits
# for one before it says why there is no answer: a first wait, then, when a worker is polling
# (it may be replaying partnerships after a restart), a longer one.
STATUS_FIRST_WAIT = timedelta(seconds=10)
STATUS_BUSY_WAIT = timedelta(seconds=30)
UPDATE_WAIT = timedelta(seconds=60)
# Asking the server which workers poll a queue: a diagnostic, never a long wait.
POLLERS_WAIT = timedelta(seconds=5)
_TRANSIENT = (
    RPCStatusCode.CANCELLED,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.RESOURCE_EXHAUSTED,
)
# A worker that was just started, or that reconnects after the server restarted, polls within
# seconds: an act waits this long for a poll before it is turned away.
WORKER_START_GRACE = timedelta(seconds=30)


class Unanswered(Refused):
    """No worker answered: nothing was changed, unless `may_have_landed` (an act sent, not yet answered)."""

    def __init__(self, problem: str, *, may_have_landed: bool = False) -> None:
        super().__init__(problem)
        self.may_have_landed = may_have_landed


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
    doors: Doors | None = None,
    **limits: Any,
) -> WorkflowHandle[PartnershipWorkflow, Any]:
    """Start the partnership's workflow, trusting the acts the given doors vouch for;
    `limits` sets StartPartnership's history and retry limits."""
    scale = time_scale or TimeScale()
    start = StartPartnership(
        charter=charter,
        time_scale=scale,
        doors=doors or Doors(),
        **{k: v for k, v in limits.items() if v is not None},
    )
    rehearsal = f" ({scale.describe()})" if scale.is_rehearsal else ""
    try:
        # Started by name: the workflow reads its input itself (see PartnershipWorkflow.__init__).
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            start,
            result_type=PartnershipOutcome,
            id=charter.workflow_id,
            task_queue=task_queue,
            # A slug names one partnership for good: its tasks and records are keyed by it.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(visibility.initial_search_attributes(charter, scale)),
            static_summary=f"{charter.partner.name} — tier {int(charter.tier)} {charter.partner.kind.value} "
            f"partnership{rehearsal}",
            static_details=_static_details(charter, scale),
        )
    except WorkflowAlreadyStartedError:
        raise Refused(
            f"slug: a partnership '{charter.slug}' already exists (workflow {charter.workflow_id}); "
            "each partnership needs its own slug"
        ) from None
    return client.get_workflow_handle_for(
        PartnershipWorkflow.run, handle.id, first_execution_run_id=handle.first_execution_run_id
    )


def _static_details(charter: Charter, scale: TimeScale) -> str:
    goals = "\n".join(f"- {g}" for g in charter.goals.us + charter.goals.partner + charter.goals.customers)
    rehearsal = f"**⏩ {scale.describe()}** (not a partnership of record)  \n" if scale.is_rehearsal else ""
    return (
        f"{rehearsal}**Partner:** {charter.partner.name} ({charter.partner.kind.value})  \n"
        f"**Tier:** {int(charter.tier)} — {charter.tier.label}  \n"
        f"**Leverage:** {', '.join(lv.value for lv in charter.leverage)} ({charter.leverage_strength.value})  \n"
        f"**Metric:** {charter.measurement.metric.name}, baseline {charter.measurement.metric.baseline:g} "
        f"{charter.measurement.metric.unit} ({charter.measurement.metric.direction.value})\n\n"
        f"**Goals**\n\n{goals}"
    )


def handle_for(client: Client, reference: str) -> WorkflowHandle[PartnershipWorkflow, Any]:
    return client.get_workflow_handle_for(PartnershipWorkflow.run, workflow_id_of(reference))


async def status(client: Client, reference: str) -> PartnershipStatus:
    """The partnership as its workflow holds it; `Unanswered` when no worker answers in time."""
    handle = handle_for(client, reference)
    queue = ""
    try:
        for wait in (STATUS_FIRST_WAIT, STATUS_BUSY_WAIT):
            try:
                return await handle.query(PartnershipWorkflow.status, rpc_timeout=wait)
            except RPCError as error:
                if not _unanswered(error):
                    raise
                queue = (await handle.describe()).task_queue
                if _no_poller(error) or not await worker_polling(client, queue):
                    raise Unanswered(_no_worker(queue, handle.id)) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise Refused(f"no partnership '{reference}' (workflow {handle.id} not found)") from None
        raise
    waited = (STATUS_FIRST_WAIT + STATUS_BUSY_WAIT).total_seconds()
    raise Unanswered(
        f"the worker for task queue '{queue}' did not answer within {waited:.0f} s (busy, or stopped in the "
        "last few minutes); nothing is lost: try again shortly"
    )


async def update(client: Client, reference: str, update: Any, request: BaseModel, signer: Signer) -> Any:
    """Send an Update with the signer's proof; a validator's refusal becomes `Refused` with its reasons.

    Nothing is sent while no worker polls the partnership's task queue: the act would wait unseen."""
    handle = handle_for(client, reference)
    proof = signer.prove(handle.id, update.__name__, request)
    try:
        description = await handle.describe()
        if description.status is not WorkflowExecutionStatus.RUNNING:
            raise Refused(_closed(handle.id, description.status))
        queue = description.task_queue
        if not await wait_for_worker(client, queue, WORKER_START_GRACE):
            raise Unanswered(_no_worker(queue, handle.id, nothing="nothing was sent"))
        return await handle.execute_update(update, args=[request, proof], rpc_timeout=UPDATE_WAIT)
    except WorkflowUpdateFailedError as error:
        raise Refused(rejection_problems(error)) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unanswered(
            f"no answer from the worker for task queue '{queue}' within {UPDATE_WAIT.total_seconds():.0f} s; "
            f"the request may still be applied when it catches up: check `partnerships status {reference}` "
            "before sending it again",
            may_have_landed=True,
        ) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            described = await _describe_missing(client, handle.id)
            raise Refused(described) from None
        raise


def _unanswered(error: RPCError) -> bool:
    """How a query no worker answered ends: timed out, cut off, or turned away (`_no_poller`)."""
    return error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED) or _no_poller(error)


def _no_poller(error: RPCError) -> bool:
    """The server's own answer when no worker polled the queue lately."""
    return error.status is RPCStatusCode.FAILED_PRECONDITION and "poller" in error.message


async def wait_for_worker(client: Client, task_queue: str, timeout: timedelta) -> bool:
    """Whether a worker polls the queue, waiting up to `timeout` for one that is starting."""
    deadline = asyncio.get_running_loop().time() + timeout.total_seconds()
    while True:
        seen = await _pollers_seen(client, task_queue)
        if seen:
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return seen is None
        await asyncio.sleep(0.5)


async def worker_polling(client: Client, task_queue: str) -> bool:
    """Whether a worker polled the queue lately (the server remembers pollers for a few minutes).

    When the server cannot say (busy), True: a question it did not answer never turns a person away."""
    seen = await _pollers_seen(client, task_queue)
    return True if seen is None else seen


async def _pollers_seen(client: Client, task_queue: str) -> bool | None:
    """Whether the server saw a worker poll the queue lately; None when it could not say in time
    (a busy cluster's matching service answers CANCELLED or DEADLINE_EXCEEDED)."""
    try:
        return bool(await workflow_pollers(client, task_queue, timeout=POLLERS_WAIT))
    except RPCError as error:
        if error.status in _TRANSIENT:
            return None
        raise


def _no_worker(task_queue: str, workflow_id: str, nothing: str = "nothing changed") -> str:
    return (
        f"no worker is running for task queue '{task_queue}' ({nothing}): {workflow_id} waits until one starts "
        "(`make worker`; README: Running it day to day)"
    )


def rejection_problems(error: WorkflowUpdateFailedError) -> list[str]:
    """The problems a refusal carries (a validator's, or a payload the workflow could not decode)."""
    problems = problems_of(error.cause)
    if problems is not None:
        return problems
    # Not a refusal: the Update failed in its handler, which is a defect, not a person's mistake.
    return [f"the partnership could not take the request: {error.cause or error}"]


async def _describe_missing(client: Client, workflow_id: str) -> str:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return f"no partnership with workflow id {workflow_id}"
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return _closed(workflow_id, description.status)
    return f"{workflow_id} did not accept the request"


def _closed(workflow_id: str, status: WorkflowExecutionStatus | None) -> str:
    state = status.name.lower() if status else "closed"
    return f"{workflow_id} is closed ({state}): nothing more can be recorded"
