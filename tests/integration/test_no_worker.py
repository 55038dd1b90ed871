"""With no worker running, each door says so in one line instead of waiting, and nothing changes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from typer.testing import CliRunner

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.cli.app import app
from partnerships.domain.lifecycle import SignRequest, Step
from partnerships.service import commands as service
from tests.helpers import PARTNER, US, act, at, example_charter, running_worker, sign_both, start, wait_for
from workflows import PartnershipWorkflow as W


async def test_with_no_worker_status_and_acts_say_so_in_one_line_and_nothing_is_recorded(
    client: Client, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short waits: what is under test is what each door says once it gives up, not how long it waits.
    monkeypatch.setattr(service, "STATUS_FIRST_WAIT", timedelta(seconds=2))
    monkeypatch.setattr(service, "WORKER_START_GRACE", timedelta(seconds=1))
    charter = example_charter()
    await start(client, settings, charter)  # nobody polls this test's task queue
    no_worker = f"no worker is running for task queue '{settings.task_queue}'"
    after = f"{charter.workflow_id} waits until one starts (`make worker`; README: Running it day to day)"

    with pytest.raises(service.Unanswered) as asked:
        await service.status(client, charter.slug)
    assert asked.value.problems == [f"{no_worker} (nothing changed): {after}"]
    with pytest.raises(service.Unanswered) as acted:
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=US))
    assert acted.value.problems == [f"{no_worker} (nothing was sent): {after}"]

    environment = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "DATABASE_URL": settings.store_url}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["status", charter.slug], env=environment)
    assert (result.exit_code, result.output) == (1, f"error: {no_worker} (nothing changed): {after}\n")

    history = await client.get_workflow_handle(charter.workflow_id).fetch_history()
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]

    # Once a worker runs, the same acts go through, and only once.
    async with running_worker(client, settings, store):
        await sign_both(client, charter.slug)
        status = await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
    assert [s.email for s in status.partnership.signatures] == [US, PARTNER]
