"""Drive partnerships (and skeletons) the way people do through the CLI, as fast as each phase allows.

Both drivers wait the same way: they poll `describe()` for the step search attribute, which the
server answers from its own state, without asking the worker (the status query would).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowHandle

from bench.skeleton import SkeletonInput, SkeletonWorkflow, stage_marker
from devtools.samples import sample_scorecard
from partnerships.adapters.charter_file import load_charter
from partnerships.adapters.config import REPO_ROOT
from partnerships.adapters.keys import Keyring
from partnerships.domain.charter import Charter
from partnerships.domain.gates import Outcome, PilotResult
from partnerships.domain.lifecycle import (
    CompleteTaskRequest,
    DecisionRequest,
    ExitRequest,
    PilotResultRequest,
    RecommitRequest,
    ScorecardRequest,
    SignRequest,
    Step,
    TaskKind,
    TimeScale,
    WalkResultRequest,
)
from partnerships.engine import visibility
from partnerships.service import commands as service
from workflows import PartnershipWorkflow

EXAMPLE_CHARTER = REPO_ROOT / "charters" / "acme-analytics.yaml"
US = "dana@ourco.example"
PARTNER = "sam@acme.example"
REVIEWER = "lee@ourco.example"
# Every poll is a describe() on the dev server: at 50 ms, 50 drivers cost it more CPU than the engine did.
POLL_SECONDS = 0.2
WAIT_TIMEOUT = 300.0


# The bench's people sign their acts like anyone else's (throwaway keys, made per run).
KEYRING = Keyring()


def bench_charter() -> Charter:
    """The Acme example, unique, with the shortest phases and the longest windows the framework allows.

    Long windows: no reminder, escalation or policy decision fires while the driver is acting.
    """
    data = load_charter(EXAMPLE_CHARTER).model_dump(mode="json")
    data["slug"] = f"bench-{uuid.uuid4().hex[:12]}"
    data["timeline"]["crawl"]["weeks"] = 4
    data["timeline"]["walk"]["weeks"] = 8
    data["governance"]["review_window_days"] = 30
    data["signing"] = {"remind_every_days": 30, "escalate_after_days": 30, "expire_after_days": 180}
    return KEYRING.enrol(Charter.model_validate(data))


@dataclass
class Anomalies:
    """Things that make a lifecycle's history differ from the reference one (counted, not hidden)."""

    refused: list[str] = field(default_factory=list)


# ----------------------------------------------------------------- waiting


async def _poll(handle: WorkflowHandle[Any, Any], done: Any, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + WAIT_TIMEOUT
    while True:
        description = await handle.describe()
        if done(description):
            return description
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{handle.id}: still waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


async def wait_for_step(client: Client, workflow_id: str, phase: str | None, step: str) -> None:
    def reached(description: Any) -> bool:
        attributes = description.typed_search_attributes
        return attributes.get(visibility.STEP) == step and (phase is None or attributes.get(visibility.PHASE) == phase)

    await _poll(client.get_workflow_handle(workflow_id), reached, f"{phase}/{step}")


# ------------------------------------------------------------ partnership


async def _update(client: Client, slug: str, update: Any, request: Any) -> Any:
    return await service.update(client, slug, update, request, KEYRING.signer_for(request.actor))


async def sign_both(client: Client, slug: str) -> None:
    for signer in (US, PARTNER):
        await _update(client, slug, PartnershipWorkflow.sign_charter, SignRequest(signer=signer))


async def record_pilots(client: Client, charter: Charter) -> None:
    pilots = charter.timeline.crawl.pilot_customers
    for i in range(pilots):
        pilot = PilotResult(customer=f"Pilot {i + 1}", metric_before=20, metric_after=14, would_recommend=True)
        # With the last pilot, whether the integration can scale: one `record crawl` call.
        can_scale = True if i == pilots - 1 else None
        request = PilotResultRequest(recorded_by=US, pilot=pilot, integration_can_scale=can_scale)
        await _update(client, charter.slug, PartnershipWorkflow.record_pilot_results, request)


async def decide_go(client: Client, slug: str, anomalies: Anomalies, reason: str = "") -> None:
    request = DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO, reason=reason)
    try:
        await _update(client, slug, PartnershipWorkflow.decide, request)
    except service.Refused as refused:
        # Policy decided first, or the period ended before the driver's evidence landed (a busy
        # machine): the lifecycle goes on, its history has extra events, and the run counts it.
        anomalies.refused.append(str(refused))
        if any(problem.startswith("reason:") for problem in refused.problems):
            late = request.model_copy(update={"reason": "evidence landed after the review opened (bench driver)"})
            await _update(client, slug, PartnershipWorkflow.decide, late)


async def record_walk(client: Client, slug: str) -> None:
    request = WalkResultRequest(recorded_by=US, invited=8, adopted=6, partner_promoting=True, support_manageable=True)
    await _update(client, slug, PartnershipWorkflow.record_walk_results, request)


async def recommit_both(client: Client, slug: str) -> None:
    for signer in (US, PARTNER):
        request = RecommitRequest(signer=signer, roi_model_holds=True)
        await _update(client, slug, PartnershipWorkflow.recommit, request)


async def hold_qbr(client: Client, charter: Charter, anomalies: Anomalies) -> None:
    """Scorecard, review, go: the next quarter begins (in a new run when the current one is long)."""
    request = ScorecardRequest(recorded_by=US, scorecard=sample_scorecard())
    await _update(client, charter.slug, PartnershipWorkflow.record_scorecard, request)
    await wait_for_step(client, charter.workflow_id, "run", Step.GATE_REVIEW.value)
    await decide_go(client, charter.slug, anomalies)


async def exit_and_wind_down(client: Client, charter: Charter) -> None:
    await _update(client, charter.slug, PartnershipWorkflow.exit, ExitRequest(by=US, reason="the benchmark is over"))
    # Task ids are only known once the exit tasks exist: one status query per poll, as `partnerships tasks` would.
    deadline = asyncio.get_running_loop().time() + WAIT_TIMEOUT
    while True:
        status = await service.status(client, charter.slug)
        tasks = [t for t in status.partnership.open_tasks if t.kind is TaskKind.EXIT]
        if tasks:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{charter.workflow_id}: no exit tasks")
        await asyncio.sleep(POLL_SECONDS)
    # Wind-down is ticked off at once, as `partnerships task done ID ID ...` does.
    done = CompleteTaskRequest(task_ids=[task.id for task in tasks], by=US)
    await _update(client, charter.slug, PartnershipWorkflow.complete_task, done)


async def start(
    client: Client, task_queue: str, scale: TimeScale
) -> tuple[Charter, WorkflowHandle[PartnershipWorkflow, Any]]:
    charter = bench_charter()
    handle = await service.start_partnership(client, charter, task_queue=task_queue, time_scale=scale)
    return charter, handle


async def into_run(client: Client, charter: Charter, anomalies: Anomalies) -> None:
    """Signing, Crawl, Walk and re-commitment: the partnership ends in Run, quarter 1."""
    await sign_both(client, charter.slug)
    await record_pilots(client, charter)
    await wait_for_step(client, charter.workflow_id, "crawl", Step.GATE_REVIEW.value)
    await decide_go(client, charter.slug, anomalies)
    await record_walk(client, charter.slug)
    await wait_for_step(client, charter.workflow_id, "walk", Step.GATE_REVIEW.value)
    await decide_go(client, charter.slug, anomalies)
    await recommit_both(client, charter.slug)


async def full_lifecycle(
    client: Client, task_queue: str, scale: TimeScale, qbrs: int, anomalies: Anomalies
) -> tuple[str, str]:
    """Start to close: signing, Crawl, Walk, Run with `qbrs` QBRs, exit, wind-down. (workflow id, first run id)"""
    charter, handle = await start(client, task_queue, scale)
    await into_run(client, charter, anomalies)
    for _ in range(qbrs):
        await hold_qbr(client, charter, anomalies)
    await exit_and_wind_down(client, charter)
    await handle.result()
    assert handle.first_execution_run_id is not None
    return charter.workflow_id, handle.first_execution_run_id


def lifecycle_rounds(qbrs: int) -> list[int]:
    """Updates the driver sends per round: a round ends where `full_lifecycle` waits.

    sign x2 + pilots x2 | decide + walk | decide + recommit x2 + scorecard | per further
    quarter: decide + scorecard | decide + exit | complete (every wind-down task at once).
    """
    assert qbrs >= 1, "a complete lifecycle holds at least one QBR"
    return [4, 2, 4, *([2] * (qbrs - 1)), 2, 1]


async def open_in_crawl(client: Client, task_queue: str, scale: TimeScale) -> str:
    """Started and signed by both sides: the partnership sits on its Crawl timer."""
    charter, _ = await start(client, task_queue, scale)
    await sign_both(client, charter.slug)
    return charter.workflow_id


async def into_walk(client: Client, workflow_id: str, anomalies: Anomalies) -> None:
    await wait_for_step(client, workflow_id, "crawl", Step.GATE_REVIEW.value)
    # No pilots were recorded for these: a go is an override and needs its reason.
    await decide_go(client, workflow_id, anomalies, reason="benchmark: the portfolio needs partnerships in Walk")


# --------------------------------------------------------------- skeleton


async def full_skeleton(client: Client, task_queue: str, plan: SkeletonInput) -> tuple[str, str]:
    """The floor's lifecycle: wait for each stage like the real driver waits, send as many Updates."""
    workflow_id = f"skeleton-{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(SkeletonWorkflow.run, plan, id=workflow_id, task_queue=task_queue)
    sent = 0
    for run_index, run in enumerate(plan.runs):
        for stage_index, stage in enumerate(run.stages):
            if run_index or stage_index:
                await wait_for_step(client, workflow_id, None, stage_marker(run_index, stage_index))
            for _ in range(stage.updates):
                sent += 1
                await client.get_workflow_handle_for(SkeletonWorkflow.run, workflow_id).execute_update(
                    SkeletonWorkflow.step, sent
                )
    await handle.result()
    assert handle.first_execution_run_id is not None
    return workflow_id, handle.first_execution_run_id


async def open_skeleton(client: Client, task_queue: str, plan: SkeletonInput) -> str:
    workflow_id = f"skeleton-{uuid.uuid4().hex[:12]}"
    await client.start_workflow(SkeletonWorkflow.run, plan, id=workflow_id, task_queue=task_queue)
    for sent in range(1, plan.runs[0].stages[0].updates + 1):
        await client.get_workflow_handle_for(SkeletonWorkflow.run, workflow_id).execute_update(
            SkeletonWorkflow.step, sent
        )
    return workflow_id
