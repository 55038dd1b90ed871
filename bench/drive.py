"""Drive partnerships (and skeletons) the way people do through the CLI, as fast as each phase allows.

Both drivers wait the same way: they poll `describe()` for the step search attribute, which the
server answers from its own state, without asking the worker (the status query would).

Both send their Updates the same way too (`UpdateSender`): each carries its own Update id, an
RPC timeout is retried with that id (the server answers a retry of an Update it already ran
with the first outcome, so nothing is applied twice) and counted as a timeout, never as a
refusal; only the workflow's own validator refuses. Each Update's latency, from the first
attempt to its outcome, is recorded for the report.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

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
    Partnership,
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
from partnerships.engine.refusals import problems_of
from partnerships.service import commands as service
from workflows import PartnershipWorkflow

EXAMPLE_CHARTER = REPO_ROOT / "charters" / "acme-analytics.yaml"
US = "dana@ourco.example"
PARTNER = "sam@acme.example"
REVIEWER = "lee@ourco.example"
# Every poll is a describe() on the dev server: at 50 ms, 50 drivers cost it more CPU than the engine did.
POLL_SECONDS = 0.2
WAIT_TIMEOUT = 300.0
# One attempt of an Update waits this long for its outcome; a timed-out attempt is sent again
# with the same Update id until UPDATE_BUDGET has passed since the first.
UPDATE_RPC_TIMEOUT = timedelta(seconds=30)
UPDATE_BUDGET = 300.0
# What a client sees when the server is too busy to answer in time: worth another attempt.
RETRYABLE = (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED)
# The refusal of a signed request whose nonce the workflow has already spent (it applied the request).
SPENT_NONCE = "proof.nonce: this signed request was already used"


# Workflow ids start with this (partnership-bench-..., bench-skeleton-...): on a shared cluster the
# bench's workflows are told apart from everyone else's by id, and run on task queues of their own.
ID_PREFIX = "bench"

# The bench's people sign their acts like anyone else's (throwaway keys, made per run).
KEYRING = Keyring()


# The shortest Crawl the framework allows.
CRAWL_WEEKS = 4


@functools.cache
def _example_charter() -> dict[str, Any]:
    # Read once: parsing the YAML took 17 ms of the driver's CPU per lifecycle, on the cores the
    # engine is measured on (50 at once when the burst starts).
    return load_charter(EXAMPLE_CHARTER).model_dump(mode="json")


def bench_charter(prefix: str = "bench") -> Charter:
    """The Acme example, unique, with the shortest phases and the longest windows the framework allows.

    Long windows: no reminder, escalation or policy decision fires while the driver is acting
    (the bench's time scale also sets a review window of its own, far longer than an Update takes).
    """
    data = copy.deepcopy(_example_charter())
    data["slug"] = f"{prefix}-{uuid.uuid4().hex[:12]}"
    data["timeline"]["crawl"]["weeks"] = CRAWL_WEEKS
    data["timeline"]["walk"]["weeks"] = 8
    data["governance"]["review_window_days"] = 30
    data["signing"] = {"remind_every_days": 30, "escalate_after_days": 30, "expire_after_days": 180}
    return KEYRING.enrol(Charter.model_validate(data))


@dataclass
class Anomalies:
    """Things that make a lifecycle's history differ from the reference one (counted, not hidden).

    `refused`: requests the workflow's validator refused (a person would see the same message);
    `policy_first`: gate reviews policy had decided before the driver's decision landed, seen
    by reading the partnership's state after the refusal, not assumed from it.
    """

    refused: list[str] = field(default_factory=list)
    policy_first: list[str] = field(default_factory=list)


class UpdateTimedOut(Exception):
    """An Update got no outcome within UPDATE_BUDGET, over every attempt: the server was too slow."""


@dataclass
class UpdateStats:
    """Every Update one side sent: its latency (first attempt to outcome) and how it ended."""

    latencies: list[float] = field(default_factory=list)
    # The same latencies by Update name: which kind of act the tail is made of.
    by_update: dict[str, list[float]] = field(default_factory=dict)
    # Attempts that timed out (or found the server unavailable) and were sent again.
    timeouts: int = 0
    # Attempts the server turned away because the workflow's task had just failed (it was
    # retried on the worker, a timed-out workflow task under load): sent again too.
    not_ready: int = 0
    # Refused by the workflow's validator (a person's mistake, or a deadline that passed) ...
    refusals: int = 0
    # ... against failed in the handler (a defect, not a refusal).
    errors: int = 0
    # Updates that never got an outcome (UpdateTimedOut).
    failed: int = 0
    # Updates whose attempt sent again was refused for its used nonce: the earlier attempt had
    # landed, and the workflow had continued as new meanwhile (an Update id is known to its run).
    landed_earlier: int = 0
    # Status queries asked again because the busy worker did not answer in time.
    query_retries: int = 0

    def record(self, update: str, seconds: float) -> None:
        self.latencies.append(seconds)
        self.by_update.setdefault(update, []).append(seconds)


@dataclass
class UpdateSender:
    """Sends Updates to one side's workflows: retries timeouts with the same id, times each one."""

    client: Client
    stats: UpdateStats = field(default_factory=UpdateStats)

    async def send(self, handle: WorkflowHandle[Any, Any], update: Any, args: list[Any]) -> Any:
        update_id = f"bench-{uuid.uuid4().hex}"
        what = getattr(update, "__name__", str(update))
        began = time.perf_counter()
        sent_again = False
        while True:
            try:
                # The SDK keeps asking while the server answers "admitted, not yet accepted" (no
                # worker took the workflow task yet): the attempt gets a deadline of its own.
                result = await asyncio.wait_for(
                    handle.execute_update(update, args=args, id=update_id, rpc_timeout=UPDATE_RPC_TIMEOUT),
                    UPDATE_RPC_TIMEOUT.total_seconds() + 5,
                )
            except WorkflowUpdateFailedError as error:
                problems = problems_of(error.cause)
                if sent_again and problems and all(p.startswith(SPENT_NONCE) for p in problems):
                    self.stats.landed_earlier += 1
                    self.stats.record(what, time.perf_counter() - began)
                    return None
                if problems is None:
                    self.stats.errors += 1
                else:
                    self.stats.refusals += 1
                self.stats.record(what, time.perf_counter() - began)
                raise
            except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
                self.stats.timeouts += 1
            except RPCError as error:
                if error.status in RETRYABLE:
                    self.stats.timeouts += 1
                elif _not_ready(error):
                    self.stats.not_ready += 1
                else:
                    raise
            else:
                self.stats.record(what, time.perf_counter() - began)
                return result
            if time.perf_counter() - began > UPDATE_BUDGET:
                self.stats.failed += 1
                raise UpdateTimedOut(f"{handle.id}: {what} got no outcome\n{await _why_stuck(handle)}")
            sent_again = True
            await asyncio.sleep(POLL_SECONDS)


async def _why_stuck(handle: WorkflowHandle[Any, Any]) -> str:
    """What the server knows of a workflow an Update could not reach: its pending task and last events."""
    try:
        raw = (await handle.describe()).raw_description
        task = raw.pending_workflow_task if raw.HasField("pending_workflow_task") else None
        events = (await handle.fetch_history()).events[-12:]
    except Exception as error:
        return f"(could not describe it: {error!r})"
    lines = [
        f"status {raw.workflow_execution_info.status}, history length {raw.workflow_execution_info.history_length}",
        f"pending workflow task: state {task.state}, attempt {task.attempt}" if task else "no pending workflow task",
        "pending activities: "
        + ", ".join(
            f"{a.activity_type.name} attempt {a.attempt} {a.last_failure.message}" for a in raw.pending_activities
        ),
    ]
    for event in events:
        failure = event.workflow_task_failed_event_attributes
        detail = (
            f" {failure.cause} {failure.failure.message[:300]}"
            if event.HasField("workflow_task_failed_event_attributes")
            else ""
        )
        lines.append(f"  {event.event_id} {event.event_type}{detail}")
    return "\n".join(lines)


def _not_ready(error: RPCError) -> bool:
    """The server's WorkflowNotReadyFailure: the Update was not admitted; try again."""
    return error.status is RPCStatusCode.FAILED_PRECONDITION and any(
        detail.type_url.endswith("WorkflowNotReadyFailure") for detail in error.grpc_status.details
    )


# Until a run sets its own: the reference lifecycle and the long partnership are timed too.
_senders: dict[str, UpdateSender] = {}


def sender(client: Client, side: str = "engine") -> UpdateSender:
    """The sender for a side; `reset_stats` starts a fresh count (the burst's figures)."""
    if side not in _senders or _senders[side].client is not client:
        _senders[side] = UpdateSender(client)
    return _senders[side]


# The floor that answers every Update before its local activities (the bench's floor until 2026-12-03).
EARLIER_FLOOR = "earlier-floor"


def reset_stats(client: Client) -> tuple[UpdateStats, UpdateStats, UpdateStats]:
    """Fresh counters for the engine's, the skeleton's and the earlier floor's Updates."""
    sides = ("engine", "skeleton", EARLIER_FLOOR)
    for side in sides:
        _senders[side] = UpdateSender(client)
    engine, skeleton, earlier = (_senders[side].stats for side in sides)
    return engine, skeleton, earlier


# ----------------------------------------------------------------- waiting


async def _poll(handle: WorkflowHandle[Any, Any], done: Any, what: str, timeout: float = WAIT_TIMEOUT) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        description = await handle.describe()
        if done(description):
            return description
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{handle.id}: still waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


async def wait_for_step(
    client: Client, workflow_id: str, phase: str | None, step: str, timeout: float = WAIT_TIMEOUT
) -> None:
    def reached(description: Any) -> bool:
        attributes = description.typed_search_attributes
        return attributes.get(visibility.STEP) == step and (phase is None or attributes.get(visibility.PHASE) == phase)

    await _poll(client.get_workflow_handle(workflow_id), reached, f"{phase}/{step}", timeout)


# ------------------------------------------------------------ partnership


async def _update(client: Client, slug: str, update: Any, request: Any) -> Any:
    """As `service.update` (the CLI's path), through the sender: the same proof, a refusal is `Refused`."""
    handle = service.handle_for(client, slug)
    proof = KEYRING.signer_for(request.actor).prove(handle.id, update.__name__, request)
    try:
        return await sender(client).send(handle, update, [request, proof])
    except WorkflowUpdateFailedError as error:
        raise service.Refused(service.rejection_problems(error)) from None


# A query's answer comes from a worker; under the burst a busy one may miss the RPC's deadline
# (seen as CANCELLED "Timeout expired" by the client): asked again, as a person would.
QUERY_RETRYABLE = (*RETRYABLE, RPCStatusCode.CANCELLED)
# One attempt of a query waits this long. Without it, an attempt made just after both workers
# were killed (10,000 open on the cluster) stayed in flight until the server closed the
# connection ("h2 protocol error", CANCELLED) after the whole budget had passed.
QUERY_RPC_TIMEOUT = timedelta(seconds=30)


async def state(client: Client, slug: str) -> Partnership:
    """The partnership as the workflow holds it (the status query `partnerships status` uses)."""
    handle = service.handle_for(client, slug)
    deadline = asyncio.get_running_loop().time() + WAIT_TIMEOUT
    while True:
        try:
            return (await handle.query(PartnershipWorkflow.status, rpc_timeout=QUERY_RPC_TIMEOUT)).partnership
        except RPCError as error:
            if error.status not in QUERY_RETRYABLE or asyncio.get_running_loop().time() > deadline:
                raise
            sender(client).stats.query_retries += 1
        await asyncio.sleep(POLL_SECONDS)


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
    """Decide go at the open review. A refusal is looked into, in the workflow's state, not guessed at."""
    request = DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO, reason=reason)
    try:
        await _update(client, slug, PartnershipWorkflow.decide, request)
        return
    except service.Refused as refused:
        anomalies.refused.append(str(refused))
        problems = refused.problems
    if any(problem.startswith("reason:") for problem in problems):
        # The gate was judged on evidence that had not landed yet: decide again, with a reason.
        late = request.model_copy(update={"reason": "evidence landed after the review opened (bench driver)"})
        await _update(client, slug, PartnershipWorkflow.decide, late)
        return
    now = await state(client, slug)
    last = now.reviews[-1] if now.reviews else None
    if now.review is None and last is not None and last.decision is not None and last.decision.by_policy:
        anomalies.policy_first.append(f"{slug}: {last.label} decided by policy ({last.decision.outcome.value})")
        if last.decision.outcome is Outcome.GO:
            return
    raise RuntimeError(
        f"{slug}: the go decision was refused ({'; '.join(problems)}); "
        f"the partnership is in {now.phase.value}/{now.step.value}"
    )


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
        partnership = await state(client, charter.slug)
        tasks = [t for t in partnership.open_tasks if t.kind is TaskKind.EXIT]
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
    charter = bench_charter(ID_PREFIX)
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


async def open_in_crawl(client: Client, task_queue: str, scale: TimeScale, started: list[str]) -> str:
    """Started and signed by both sides: the partnership sits on its Crawl timer.

    Its id goes into `started` as soon as it runs, so a run that stops mid-opening still knows
    every workflow it left running.
    """
    charter, _ = await start(client, task_queue, scale)
    started.append(charter.workflow_id)
    await sign_both(client, charter.slug)
    return charter.workflow_id


async def into_walk(client: Client, workflow_id: str, anomalies: Anomalies, crawl_seconds: float) -> None:
    # Its review opens when Crawl's timer fires, which may be most of Crawl away when the opening
    # went fast (2,000 in 83 s on the dev server, 2026-12-02): the wait allows for all of it.
    await wait_for_step(client, workflow_id, "crawl", Step.GATE_REVIEW.value, crawl_seconds + WAIT_TIMEOUT)
    # No pilots were recorded for these: a go is an override and needs its reason.
    await decide_go(client, workflow_id, anomalies, reason="benchmark: the portfolio needs partnerships in Walk")


# --------------------------------------------------------------- skeleton


async def _step(client: Client, workflow_id: str, sent: int, side: str) -> None:
    handle = client.get_workflow_handle_for(SkeletonWorkflow.run, workflow_id)
    await sender(client, side).send(handle, SkeletonWorkflow.step, [sent])


def skeleton_id() -> str:
    return f"{ID_PREFIX}-skeleton-{uuid.uuid4().hex[:12]}"


async def full_skeleton(
    client: Client, task_queue: str, plan: SkeletonInput, side: str = "skeleton"
) -> tuple[str, str]:
    """The floor's lifecycle: wait for each stage like the real driver waits, send as many Updates."""
    workflow_id = skeleton_id()
    handle = await client.start_workflow(SkeletonWorkflow.run, plan, id=workflow_id, task_queue=task_queue)
    sent = 0
    for run_index, run in enumerate(plan.runs):
        for stage_index, stage in enumerate(run.stages):
            if run_index or stage_index:
                await wait_for_step(client, workflow_id, None, stage_marker(run_index, stage_index))
            for _ in range(stage.updates):
                sent += 1
                await _step(client, workflow_id, sent, side)
    await handle.result()
    assert handle.first_execution_run_id is not None
    return workflow_id, handle.first_execution_run_id


async def open_skeleton(client: Client, task_queue: str, plan: SkeletonInput, started: list[str]) -> str:
    workflow_id = skeleton_id()
    await client.start_workflow(SkeletonWorkflow.run, plan, id=workflow_id, task_queue=task_queue)
    started.append(workflow_id)
    for sent in range(1, plan.runs[0].stages[0].updates + 1):
        await _step(client, workflow_id, sent, "skeleton")
    return workflow_id
