"""The partnership workflow on the real Temporal dev server, phase by phase."""

from __future__ import annotations

from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.domain.gates import Outcome
from partnerships.domain.lifecycle import Step, TimeScale
from partnerships.service import commands as service
from tests.helpers import (
    at,
    complete_task,
    decide,
    example_charter,
    keep_history,
    reach_walk_review,
    recommit_both,
    record_pilots,
    record_scorecard,
    running_worker,
    settle,
    sign_both,
    start,
    wait_for,
    wait_for_new_run,
)


async def test_a_partnership_that_passes_every_gate_reaches_run_and_holds_a_qbr(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        # A run that is already long at its first quarter boundary continues as new there.
        await start(client, settings, charter, run_history_limit=50)
        await reach_walk_review(client, charter.slug)
        status = await service.status(client, charter.slug)
        assert status.current_gate is not None and status.current_gate.passed
        await decide(client, charter.slug, Outcome.GO)
        await wait_for(client, charter.slug, at("walk", Step.RECOMMITMENT))
        await recommit_both(client, charter.slug)
        await wait_for(client, charter.slug, at("run", Step.UNDERWAY))
        await record_scorecard(client, charter.slug)
        await wait_for(client, charter.slug, at("run", Step.GATE_REVIEW))
        quarter_one = await client.get_workflow_handle(charter.workflow_id).describe()
        await decide(client, charter.slug, Outcome.GO)
        # After the QBR the long run continues as new: a fresh, short history for the next quarter.
        await wait_for_new_run(client, charter.workflow_id, quarter_one.run_id)
        status = await service.status(client, charter.slug)
    await keep_history(client, charter.workflow_id, "signing-through-first-qbr", run_id=quarter_one.run_id)
    await keep_history(client, charter.workflow_id, "run-resumed-after-continue-as-new")

    assert status.partnership.quarter == 2
    assert status.partnership.phase.value == "run"
    assert [r.gate.value for r in status.partnership.reviews] == ["crawl", "walk", "qbr"]
    kinds = {t.kind for t in store.tasks()}
    assert kinds == {"crawl-kickoff", "walk-kickoff", "run-kickoff", "qbr"}
    decided = [r for r in store.reviews(charter.workflow_id) if r.outcome]
    assert [(r.gate, r.outcome) for r in decided] == [
        ("crawl", "go"),
        ("walk", "go"),
        ("qbr", "go"),
    ]


async def test_a_failed_crawl_ends_the_partnership_with_exit_tasks_then_closes_when_they_are_done(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        handle = await start(client, settings, charter)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug, after=(18, 19))  # 10 % and 5 %: below 20 %
        status = await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        assert status.current_gate is not None
        assert status.current_gate.recommendation is Outcome.NO_GO
        await decide(client, charter.slug, Outcome.NO_GO, reason="pilots saw too little change")
        status = await wait_for(
            client,
            charter.slug,
            lambda s: at("exited", Step.WINDING_DOWN)(s) and bool(s.partnership.open_tasks),
        )
        exit_tasks = status.partnership.open_tasks
        assert {t.id.rsplit(":", 1)[1] for t in exit_tasks} == {
            "tell-partner",
            "wind-down-integration",
            "tell-customers",
            "retrospective",
            "archive-charter",
        }
        # Crawl's own kickoff tasks are moot now.
        assert {t.kind for t in store.tasks(charter.workflow_id, status="cancelled")} == {"crawl-kickoff"}
        for task in exit_tasks:
            await complete_task(client, task.id)
        outcome = await handle.result()
    await keep_history(client, charter.workflow_id, "crawl-no-go-exit-closed")
    assert outcome.phase == "exited"
    assert "no-go at the Crawl gate review" in (outcome.end_reason or "")
    assert {t.status for t in store.tasks(charter.workflow_id, status=None) if t.kind == "exit"} == {"done"}


async def test_evidence_recorded_during_crawl_keeps_the_phase_timer_and_writes_only_the_act(
    client: Client, settings: Settings, store: Store
) -> None:
    """A person's Update costs its own events only: the Crawl timer runs on, and evidence that
    changes nothing people see writes only the act and its proof (one local record in the same
    workflow task), not the read model again."""
    charter = example_charter()
    async with running_worker(client, settings, store):
        handle = await start(client, settings, charter, TimeScale(seconds_per_week=5))  # Crawl: 20 s
        await sign_both(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        before = await settle(client, charter.workflow_id)
        await record_pilots(client, charter.slug)
        after = await settle(client, charter.workflow_id)
        events = (await handle.fetch_history()).events[before:after]
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events)
    updates = kinds["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
    assert updates == 3
    assert kinds == {
        "WORKFLOW_TASK_SCHEDULED": updates,
        "WORKFLOW_TASK_STARTED": updates,
        "WORKFLOW_TASK_COMPLETED": updates,
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED": updates,
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED": updates,
        "MARKER_RECORDED": updates,
    }
