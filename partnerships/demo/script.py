"""The demo: one partnership driven through every phase, narrated, on a running worker."""

from __future__ import annotations

import asyncio
import html
import mailbox
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.doors import configured_doors
from partnerships.adapters.keys import Keyring
from partnerships.adapters.temporal_client import make_client
from partnerships.domain.charter import Charter
from partnerships.domain.gates import Outcome, PilotResult, Rag, Scorecard
from partnerships.domain.lifecycle import (
    CompleteTaskRequest,
    DecisionRequest,
    PilotResultRequest,
    RecommitRequest,
    ScorecardRequest,
    SignRequest,
    Step,
    TimeScale,
    WalkResultRequest,
)
from partnerships.engine.contracts import PartnershipStatus
from partnerships.service import commands as service
from workflows import PartnershipWorkflow as W

# A worker process on a fresh, busy machine takes seconds to import, connect and poll.
WORKER_START = timedelta(minutes=2)


async def _until(
    client: Client, slug: str, check: Callable[[PartnershipStatus], bool], timeout: float = 300
) -> PartnershipStatus:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await service.status(client, slug)
        if check(status):
            return status
        if loop.time() > deadline:
            raise TimeoutError(f"the demo partnership did not reach the expected step (at {status.awaiting})")
        await asyncio.sleep(0.1)


def _in_quarter(quarter: int) -> Callable[[PartnershipStatus], bool]:
    def check(status: PartnershipStatus) -> bool:
        p = status.partnership
        return p.phase.value == "run" and p.step is Step.UNDERWAY and p.quarter == quarter

    return check


async def _link_for(inbox: Path, email: str, workflow_id: str, seconds: float = 60) -> str:
    """The signing link emailed to `email` about this partnership, in the demo's local Maildir."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        for message in mailbox.Maildir(inbox, create=False):
            body = message.get_payload(decode=True)
            text = body.decode(errors="replace") if isinstance(body, bytes) else ""
            found = re.search(r"(http://\S+/act/\S+)", text)
            if message["To"] == email and workflow_id in text and found:
                return found.group(1)
        await asyncio.sleep(0.2)
    raise RuntimeError(f"no signing link reached {email}'s inbox in {inbox}")


async def _follow(link: str) -> str:
    """Open the link's page and press its button, as the partner would in a browser."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(link) as page:
            form = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]+)"', await page.text()))
        async with session.post(link, data=form) as answer:
            found = re.search(r'id="(?:done|refused)">([^<]*)<', await answer.text())
            return html.unescape(found.group(1)) if found else f"HTTP {answer.status}"


async def drive(charter: Charter, time_scale: TimeScale, out: Console, inbox: Path | None = None) -> None:
    settings = Settings()
    client = await make_client(settings)
    # The worker was started a moment ago: acts are turned away until it polls.
    if not await service.wait_for_worker(client, settings.task_queue, WORKER_START):
        raise RuntimeError(f"the worker did not start polling within {WORKER_START}; see .data/worker.log")
    out.print("Worker polling")
    # Throwaway keys for everyone in the demo's charter: each act is signed by its person,
    # as each person's own `partnerships login` key would sign it.
    keyring = Keyring()
    charter = keyring.enrol(charter)
    slug = charter.slug
    owners = charter.governance.decision_owners
    reviewer = charter.governance.reviewers[-1]
    us, partner = owners.us.email, owners.partner.email

    async def send(update: Any, request: Any, say: str) -> None:
        result = await service.update(client, slug, update, request, keyring.signer_for(request.actor))
        outcome = "" if result.summary == say else f" [dim]→ {result.summary}[/dim]"
        out.print(f"  [green]✓[/green] {say}{outcome}")

    def show_gate(status: PartnershipStatus) -> None:
        gate = status.current_gate
        assert gate is not None
        for c in gate.criteria:
            mark = "[green]pass[/green]" if c.passed else "[red]fail[/red]"
            out.print(f"    {mark} {c.question} [dim]{c.measured} (needs {c.threshold})[/dim]")
        out.print(f"    recommendation: [bold]{gate.recommendation.value}[/bold] — {gate.rationale}")

    def at(phase: str, step: Step) -> Callable[[PartnershipStatus], bool]:
        return lambda s: s.partnership.phase.value == phase and s.partnership.step is step

    out.rule(f"[bold]{charter.partner.name}[/bold] — one week lasts {time_scale.seconds_per_week:g} s")
    await service.start_partnership(
        client, charter, task_queue=settings.task_queue, time_scale=time_scale, doors=configured_doors()
    )
    out.print(f"  started [bold]{charter.workflow_id}[/bold]")
    out.print(f"  Web UI: {settings.workflow_url(charter.workflow_id)}")

    out.rule("Charter")
    await send(W.sign_charter, SignRequest(signer=us), f"{owners.us.name} signs for us")
    if inbox is not None:
        # The partner has no terminal of ours: they sign through the link in their email.
        link = await _link_for(inbox, partner, charter.workflow_id)
        out.print(f"  ✉ {owners.partner.name}'s email (in {inbox}) holds a signing link: {link[:60]}…")
        out.print(
            f"  [green]✓[/green] {owners.partner.name} signs for {charter.partner.name} from that link: "
            f"[dim]{await _follow(link)}[/dim]"
        )
    else:
        await send(
            W.sign_charter,
            SignRequest(signer=partner),
            f"{owners.partner.name} signs for {charter.partner.name}",
        )

    out.rule(f"Crawl — {charter.timeline.crawl.weeks} weeks")
    await _until(client, slug, at("crawl", Step.UNDERWAY))
    baseline = charter.measurement.metric.baseline
    better = 0.7 if charter.measurement.metric.direction.value == "lower-is-better" else 1.3
    for i in range(charter.timeline.crawl.pilot_customers):
        pilot = PilotResult(
            customer=f"Pilot customer {i + 1}",
            metric_before=baseline,
            metric_after=round(baseline * (better - i * 0.02), 2),
            would_recommend=True,
        )
        await send(
            W.record_pilot_results,
            PilotResultRequest(recorded_by=us, pilot=pilot),
            f"{pilot.customer}: {charter.measurement.metric.name} {pilot.metric_before:g} → {pilot.metric_after:g}",
        )
    await send(
        W.record_pilot_results,
        PilotResultRequest(recorded_by=us, integration_can_scale=True),
        "the integration can scale",
    )
    out.print("  … waiting for Crawl to run its course")
    show_gate(await _until(client, slug, at("crawl", Step.GATE_REVIEW)))
    await send(
        W.decide,
        DecisionRequest(reviewer=reviewer.email, outcome=Outcome.GO),
        f"{reviewer.name} decides go",
    )

    out.rule(f"Walk — {charter.timeline.walk.weeks} weeks")
    await _until(client, slug, at("walk", Step.UNDERWAY))
    invited = charter.timeline.walk.invited_customers
    adopted = -(-invited * 8 // 10)
    await send(
        W.record_walk_results,
        WalkResultRequest(
            recorded_by=us,
            invited=invited,
            adopted=adopted,
            partner_promoting=True,
            support_manageable=True,
        ),
        f"{adopted} of {invited} invited customers adopted; partner promoting; support manageable",
    )
    out.print("  … waiting for Walk to run its course")
    show_gate(await _until(client, slug, at("walk", Step.GATE_REVIEW)))
    await send(
        W.decide,
        DecisionRequest(reviewer=reviewer.email, outcome=Outcome.GO),
        f"{reviewer.name} decides go",
    )
    await _until(client, slug, at("walk", Step.RECOMMITMENT))
    await send(W.recommit, RecommitRequest(signer=us, roi_model_holds=True), f"{owners.us.name} re-commits")
    await send(
        W.recommit,
        RecommitRequest(signer=partner, roi_model_holds=True),
        f"{owners.partner.name} re-commits",
    )

    out.rule("Run — quarterly business reviews")
    for quarter, rag in ((1, Rag.GREEN), (2, Rag.AMBER)):
        await _until(client, slug, _in_quarter(quarter))
        card = Scorecard(
            deals_sourced=3 + quarter,
            pipeline_sourced=180_000 * quarter,
            revenue_closed=60_000 * quarter,
            win_rate_pct=32,
            average_deal_size=20_000,
            active_engagements=5,
            certifications_completed=4,
            customer_satisfaction=8.2,
            rag=rag,
        )
        await send(
            W.record_scorecard,
            ScorecardRequest(recorded_by=us, scorecard=card),
            f"quarter {quarter} scorecard: {card.deals_sourced} deals, {rag.value}",
        )
        show_gate(await _until(client, slug, at("run", Step.GATE_REVIEW)))
        outcome = Outcome.GO if quarter == 1 else Outcome.NO_GO
        reason = "" if outcome is Outcome.GO else "exit criteria met: Acme is moving the integration in-house"
        await send(
            W.decide,
            DecisionRequest(reviewer=reviewer.email, outcome=outcome, reason=reason),
            f"{reviewer.name} decides {outcome.value} at the QBR",
        )

    out.rule("Exit")
    status = await _until(
        client,
        slug,
        lambda s: (
            s.partnership.step is Step.WINDING_DOWN and any(t.kind.value == "exit" for t in s.partnership.open_tasks)
        ),
    )
    for task in status.partnership.open_tasks:
        await send(W.complete_task, CompleteTaskRequest(task_id=task.id, by=us), f"done: {task.title}")
    outcome_of_run = await client.get_workflow_handle_for(W.run, charter.workflow_id).result()
    out.print(
        f"\n[bold green]Partnership {outcome_of_run.phase}[/bold green] "
        f"after {outcome_of_run.quarters_in_run} quarter(s) in Run: {outcome_of_run.end_reason}"
    )
    out.print(f"See it in the Web UI: {settings.workflow_url(charter.workflow_id)}")
    out.print(
        f"Filter the portfolio: {settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows"
        "?query=PartnershipPhase%3D%22completed%22"
    )
