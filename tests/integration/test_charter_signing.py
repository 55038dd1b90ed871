"""Signing the charter on the real dev server: both sides, once each, before it expires."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.domain.lifecycle import SignRequest, Step
from partnerships.service import commands as service
from tests.helpers import (
    NOBODY_ACTS,
    PARTNER,
    US,
    act,
    at,
    complete_task,
    example_charter,
    keep_history,
    running_worker,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow


async def test_an_unsigned_charter_is_reminded_escalated_and_expires_with_archive_tasks(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter(signing={"remind_every_days": 3, "escalate_after_days": 7, "expire_after_days": 14})
    async with running_worker(client, settings, store):
        handle = await start(client, settings, charter, NOBODY_ACTS)
        await act(client, charter.slug, PartnershipWorkflow.sign_charter, SignRequest(signer=US))
        status = await wait_for(
            client,
            charter.slug,
            lambda s: s.partnership.phase.value == "exited" and bool(s.partnership.open_tasks),
        )
        assert "charter expired unsigned (missing: partner)" in (status.partnership.end_reason or "")
        assert {t.id.rsplit(":", 1)[1] for t in status.partnership.open_tasks} == {
            "tell-partner",
            "archive-charter",
        }
        with pytest.raises(service.Refused, match="not open for signatures"):
            await act(client, charter.slug, PartnershipWorkflow.sign_charter, SignRequest(signer=PARTNER))
        for task in status.partnership.open_tasks:
            await complete_task(client, task.id)
        outcome = await handle.result()
    await keep_history(client, charter.workflow_id, "charter-expired-closed")
    assert outcome.phase == "exited"
    kinds = [n.kind for n in store.notifications(charter.workflow_id)]
    assert kinds[0] == "charter-ready"
    assert kinds.count("charter-reminder") == 2  # days 3 and 6, escalation on day 7
    assert kinds.index("charter-reminder") < kinds.index("charter-escalation") < kinds.index("partnership-ended")
    reminder = next(n for n in store.notifications(charter.workflow_id) if n.kind == "charter-reminder")
    assert reminder.audience == "sam@acme.example"  # only the side that has not signed


async def test_crawl_starts_only_when_both_sides_have_signed(client: Client, settings: Settings, store: Store) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await act(client, charter.slug, PartnershipWorkflow.sign_charter, SignRequest(signer=PARTNER))
        status = await service.status(client, charter.slug)
        assert (status.partnership.phase.value, status.partnership.step) == (
            "charter",
            Step.SIGNING,
        )
        await act(client, charter.slug, PartnershipWorkflow.sign_charter, SignRequest(signer=US))
        status = await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
    assert [(s.side.value, s.name) for s in status.partnership.signatures] == [
        ("partner", "Sam Okafor"),
        ("us", "Dana Reyes"),
    ]
