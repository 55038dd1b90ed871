"""Outages: the notifier and the Temporal server go away for a while; nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from devtools.devserver import start_dev_command
from partnerships.adapters.config import Settings
from partnerships.adapters.notifiers import SlackNotifier, SlackSettings
from partnerships.adapters.slack.notifier import make_web_client
from partnerships.adapters.store import Store
from partnerships.domain.gates import Outcome
from partnerships.domain.lifecycle import Step, TimeScale
from partnerships.engine.converter import DATA_CONVERTER
from tests.fake_slack import BOT_TOKEN, CHANNEL_ID, Failure, FakeSlack
from tests.helpers import (
    at,
    decide,
    devserver_only,
    example_charter,
    record_pilots,
    record_walk,
    running_worker,
    sign_both,
    start,
    wait_for,
)

# What the partnership says, in order, before Walk results are recorded.
EXPECTED_ORDER = ["charter-ready", "crawl-1:sent", "review-1:opened", "review-1:decided", "walk-1:sent"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_a_slack_outage_delays_messages_but_not_the_partnership_and_loses_or_doubles_nothing(
    client: Client, settings: Settings, store: Store
) -> None:
    port = _free_port()
    slack_settings = SlackSettings(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=f"http://127.0.0.1:{port}/api/")
    notifier = SlackNotifier(make_web_client(slack_settings), CHANNEL_ID)
    charter = example_charter()
    workflow_id = charter.workflow_id
    async with running_worker(client, settings, store, notifier=notifier):
        # Crawl lasts 4 s; the review waits minutes for its reviewer, so nothing below depends on
        # how quickly a busy machine lets people act.
        handle = await start(client, settings, charter, TimeScale(seconds_per_week=1, review_window_seconds=600))
        # Slack refuses connections: the partnership goes on regardless.
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        await decide(client, charter.slug, Outcome.GO)
        await wait_for(
            client, charter.slug, lambda s: at("walk", Step.UNDERWAY)(s) and len(s.partnership.open_tasks) > 3
        )
        await record_walk(client, charter.slug, invited=8, adopted=7)
        waiting = store.notifications(workflow_id)
        assert waiting and all(n.status == "pending" for n in waiting)
        assert any(n.attempts >= 2 for n in waiting)  # retried, not dropped

        during_outage = [n.key for n in waiting]

        # Slack comes back, but answers HTTP 500 a few more times before it recovers.
        with FakeSlack(port=port) as slack:
            slack.fail_next("chat.postMessage", Failure("http500"), times=3)

            def delivered() -> set[str]:
                return {n.key for n in store.notifications(workflow_id) if n.status == "delivered"}

            # Messages go out one after another, so only the first one reached the store during
            # the outage; the rest waited in the workflow behind it.
            produced_during_outage = {f"{workflow_id}:{key}" for key in EXPECTED_ORDER}
            await _until(lambda: produced_during_outage <= delivered(), 120, "delivery of what waited")
            await handle.terminate("test over")
            posted_keys = [m["metadata"]["event_payload"]["key"] for m in slack.posted(CHANNEL_ID)]
            # A message Slack has just accepted is marked delivered a moment later.
            await _until(lambda: set(posted_keys) <= delivered(), 30, "the store to record what Slack accepted")
            stored = {n.key: n for n in store.notifications(workflow_id)}

    # Later messages may still be on their way when the test stops; what waited must be out.
    assert len(posted_keys) == len(set(posted_keys))  # nothing doubled
    assert set(during_outage) <= set(posted_keys) <= set(stored)  # nothing lost
    assert all(stored[key].status == "delivered" for key in posted_keys)
    # Delivered in the order the partnership produced them (overdue-task reminders fall in
    # between wherever their due dates do).
    in_order = [k.removeprefix(f"{workflow_id}:") for k in posted_keys]
    assert [k for k in in_order if k in EXPECTED_ORDER] == EXPECTED_ORDER


@pytest.fixture
def own_dev_server(tmp_path: Path) -> Iterator[tuple[list[str], int]]:
    port = _free_port()
    command = [*start_dev_command(tmp_path / "temporal.db", port=port, ui_port=_free_port()), "--headless"]
    yield command, port


async def _wait_for_server(port: int, timeout: float = 60) -> Client:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await Client.connect(f"127.0.0.1:{port}", data_converter=DATA_CONVERTER)
        except RuntimeError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


@devserver_only(
    "stops and restarts a Temporal server of its own on its database file; the cluster's restart "
    "(`devtools.cluster stop` / `start`, every database kept) is shown in the README"
)
async def test_a_server_restart_mid_lifecycle_loses_no_partnership_and_no_timer(
    own_dev_server: tuple[list[str], int], settings: Settings, store: Store
) -> None:
    command, port = own_dev_server
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = await _wait_for_server(port)
        charter = example_charter()
        async with running_worker(client, settings, store):
            handle = await start(client, settings, charter, TimeScale(seconds_per_week=1))
            await sign_both(client, charter.slug)
            await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))

            # Stop the server while Crawl's 4-week (4 s) timer runs, and keep it down past the timer.
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            await asyncio.sleep(5)
            server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await _wait_for_server(port)

            await record_pilots(client, charter.slug)
            status = await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW), timeout=60)
            assert status.partnership.signatures and status.current_gate and status.current_gate.passed
            await decide(client, charter.slug, Outcome.GO)
            status = await wait_for(
                client, charter.slug, lambda s: at("walk", Step.UNDERWAY)(s) and len(s.partnership.open_tasks) > 3
            )
            await handle.terminate("test over")
        assert [r.gate.value for r in status.partnership.reviews] == ["crawl"]
        assert {t.kind for t in store.tasks(charter.workflow_id)} == {"crawl-kickoff", "walk-kickoff"}
    finally:
        server.terminate()
        server.wait(timeout=30)
