"""The worker as operators run it: it starts through a Slack outage, refuses a wrong setting,
and stops rather than write into a store whose file went away."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from temporalio.client import Client

from partnerships.adapters.config import REPO_ROOT, Settings
from tests.fake_slack import CHANNEL_ID, FakeSlack

READY = "worker polling"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(client: Client, settings: Settings, **slack: str) -> dict[str, str]:
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "DATABASE_URL": settings.store_url,
        "PARTNERSHIPS_TASK_QUEUE": settings.task_queue,
        **slack,
    }


async def _worker(environment: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        env=environment,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _read_until(process: asyncio.subprocess.Process, needle: str, timeout: float = 60) -> str:
    """The worker's output up to the line holding `needle` (or to its exit)."""
    assert process.stdout is not None
    seen = ""

    async def read() -> None:
        nonlocal seen
        while needle not in seen:
            line = await process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                return
            seen += line.decode(errors="replace")

    await asyncio.wait_for(read(), timeout)
    return seen


async def _stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.terminate()
    return await asyncio.wait_for(process.wait(), 30)


async def test_a_worker_starts_while_slack_is_unreachable_and_says_messages_will_wait(
    client: Client, settings: Settings
) -> None:
    unreachable = f"http://127.0.0.1:{_closed_port()}/api/"
    worker = await _worker(
        _environment(client, settings, SLACK_BOT_TOKEN="xoxb-test", SLACK_CHANNEL=CHANNEL_ID, SLACK_API_URL=unreachable)
    )
    try:
        output = await _read_until(worker, READY)
        assert READY in output and "messages wait in the outbox" in output
        assert worker.returncode is None
    finally:
        await _stop(worker)


async def test_a_worker_with_a_wrong_slack_token_stops_with_one_clear_line(client: Client, settings: Settings) -> None:
    with FakeSlack(valid_tokens={"xoxb-right"}) as slack:
        worker = await _worker(
            _environment(
                client, settings, SLACK_BOT_TOKEN="xoxb-wrong", SLACK_CHANNEL=CHANNEL_ID, SLACK_API_URL=slack.base_url
            )
        )
        output = await _read_until(worker, "misconfigured")
        code = await asyncio.wait_for(worker.wait(), 30)
    assert code == 1
    assert "slack is misconfigured: Slack refused the bot token (invalid_auth)" in output
    assert READY not in output and "Traceback" not in output


async def test_a_worker_whose_store_file_is_deleted_stops_instead_of_writing_into_nothing(
    client: Client, settings: Settings
) -> None:
    worker = await _worker(_environment(client, settings))
    try:
        await _read_until(worker, READY)
        database = Path(settings.store_url.removeprefix("sqlite:///"))
        database.unlink()
        output = await _read_until(worker, "deleted or replaced")
        code = await asyncio.wait_for(worker.wait(), 30)
    finally:
        await _stop(worker)
    assert code == 1
    assert f"the store's file {database} was deleted or replaced" in output
