"""Tasks on the real dev server: overdue tasks are flagged and reminded once, only the right people close them."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.domain.lifecycle import Step
from partnerships.service import commands as service
from partnerships.service.portfolio_query import list_partnerships
from tests.helpers import PARTNER, REVIEWER, US, at, complete_task, example_charter, running_worker, sign_both, wait_for
from tests.helpers import start as start_partnership

ESCALATION = "morgan@ourco.example"


async def _wait_listed_overdue(client: Client, workflow_id: str, tasks: int) -> dict[str, object]:
    # Visibility trails the workflow: the row may first show week 1's count before week 2's lands.
    row = None
    for _ in range(300):
        rows = await list_partnerships(client, overdue=True)
        row = next((r for r in rows if r["workflow_id"] == workflow_id), None)
        if row is not None and row["overdue_tasks"] == tasks:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} never listed with {tasks} overdue tasks; last row: {row}")


async def test_an_overdue_task_is_flagged_listed_and_its_owner_reminded_once(
    client: Client, settings: Settings, store: Store
) -> None:
    # A Crawl long enough that its kickoff tasks (due in 1 and 2 weeks) fall overdue before it ends.
    charter = example_charter(timeline__crawl__weeks=8)
    async with running_worker(client, settings, store):
        await start_partnership(client, settings, charter)
        await sign_both(client, charter.slug)
        status = await wait_for(
            client,
            charter.slug,
            lambda s: len(s.partnership.overdue_tasks) == len(s.partnership.open_tasks) == 3,
        )
        row = await _wait_listed_overdue(client, charter.workflow_id, tasks=3)
    assert row["overdue"] is False  # the tasks are overdue, not a gate review
    reminders = [n for n in store.notifications(charter.workflow_id) if n.kind == "tasks-overdue"]
    # One reminder per owner per due date: ours (two tasks due in week 1), the partner's (week 2).
    assert sorted(n.audience for n in reminders) == sorted([US, PARTNER])
    ours = next(n for n in reminders if US in n.audience)
    overdue_ids = sorted(t.id for t in status.partnership.overdue_tasks if t.owner == US)
    for task_id in overdue_ids:
        assert task_id in ours.body
    assert "overdue" in ours.subject


async def test_only_the_tasks_owner_a_decision_owner_or_a_reviewer_may_close_it(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start_partnership(client, settings, charter)
        await sign_both(client, charter.slug)
        status = await wait_for(client, charter.slug, lambda s: len(s.partnership.open_tasks) == 3)
        partners = next(t for t in status.partnership.open_tasks if t.owner == PARTNER)
        with pytest.raises(service.Refused) as refused:
            await complete_task(client, partners.id, by=ESCALATION)
        assert refused.value.problems == [
            f"task_id: {partners.id} belongs to {PARTNER}; only its owner, a decision owner or a reviewer may close it"
        ]
        ours = [t for t in status.partnership.open_tasks if t.owner == US]
        await complete_task(client, partners.id, by=PARTNER)
        await complete_task(client, ours[0].id, by=REVIEWER)
        status = await wait_for(client, charter.slug, lambda s: len(s.partnership.open_tasks) == 1)
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
    closed = {t.id: t.closed_by for t in store.tasks(charter.workflow_id, status="done")}
    assert closed == {partners.id: PARTNER, ours[0].id: REVIEWER}
