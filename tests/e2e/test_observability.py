"""What operators see of a worker, over real HTTP: one scrape with the SDK's metrics and the
engine's, health that names what is unreachable, and logs one JSON object per line.

The worker runs as operators run it (`python worker.py`, its own process) with
PARTNERSHIPS_METRICS_PORT on a free port; Slack is a closed port, so every message waits
in the outbox and the outbox gauges have something to count.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from temporalio.client import Client

from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.observability import GAUGE_REFRESH_SECONDS
from partnerships.adapters.store import Store
from partnerships.domain.gates import Outcome
from partnerships.domain.lifecycle import Step, TimeScale
from partnerships.engine.contracts import ActivityName
from partnerships.service.commands import Refused
from tests.fake_slack import CHANNEL_ID
from tests.helpers import at, decide, example_charter, record_pilots, record_walk, sign_both, start, wait_for
from tests.tcp_proxy import TcpProxy

# Crawl lasts 2 s and Walk 4 s; a review nobody decides is reminded after 5 s (the shortest
# window), escalated after 7.5 s and decided by policy after 10 s: time enough to decide the Crawl
# gate by hand first.
SCALE = TimeScale(seconds_per_week=0.5, review_window_seconds=5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WorkerProcess:
    """`python worker.py` with its output read as it comes (a full pipe would stall it)."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.port = int(environment["PARTNERSHIPS_METRICS_PORT"])
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "worker.py",
            env=self.environment,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.exited()

    async def exited(self) -> int:
        assert self.process is not None and self._reading is not None
        code = await asyncio.wait_for(self.process.wait(), 60)
        await asyncio.wait_for(self._reading, 10)
        print("\n".join(self.lines))  # shown when the test fails
        return code

    async def get(self, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(f"http://127.0.0.1:{self.port}{path}") as answer,
        ):
            return answer.status, await answer.text()

    async def until(self, path: str, status: int, timeout: float = 60) -> str:
        """The body of the first answer from `path` with this status."""
        deadline = asyncio.get_running_loop().time() + timeout
        last = "no answer"
        while asyncio.get_running_loop().time() < deadline:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"the worker exited ({self.process.returncode}):\n" + "\n".join(self.lines))
            try:
                got, body = await self.get(path)
            except aiohttp.ClientConnectionError as error:
                last = str(error)
            else:
                if got == status:
                    return body
                last = f"{got} {body}"
            await asyncio.sleep(0.2)
        raise AssertionError(f"{path} never answered {status}; last: {last}\n" + "\n".join(self.lines[-30:]))


def _environment(temporal: str, settings: Settings, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal,
        "DATABASE_URL": settings.store_url,
        "PARTNERSHIPS_TASK_QUEUE": settings.task_queue,
        "PARTNERSHIPS_METRICS_PORT": str(_free_port()),
        # Slack at a closed port: it never answers, so every message waits in the outbox.
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_CHANNEL": CHANNEL_ID,
        "SLACK_API_URL": f"http://127.0.0.1:{_free_port()}/api/",
        **more,
    }


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric(scrape: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` carrying these labels (0 when there are none)."""
    total = 0.0
    for line in scrape.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        carried = dict(_LABEL.findall(match["labels"] or ""))
        if all(carried.get(key) == value for key, value in labels.items()):
            total += float(match["value"])
    return total


async def test_one_scrape_shows_the_sdks_metrics_and_what_the_engine_counted(
    client: Client, settings: Settings, store: Store
) -> None:
    worker = WorkerProcess(_environment(client.service_client.config.target_host, settings))
    await worker.start()
    try:
        assert await worker.until("/readyz", 200) == "ready\n"
        assert await worker.until("/healthz", 200) == "ok\n"
        charter = example_charter()
        slug = charter.slug
        handle = await start(client, settings, charter, SCALE)
        await sign_both(client, slug)
        await record_pilots(client, slug, after=(19, 18))  # fails the Crawl gate
        await wait_for(client, slug, at("crawl", Step.GATE_REVIEW))
        with pytest.raises(Refused):
            await record_walk(client, slug)  # Walk results during Crawl: the validator refuses them
        await decide(client, slug, Outcome.GO, reason="pilot churn, not the integration, moved the metric")
        await wait_for(client, slug, at("walk", Step.UNDERWAY))
        await record_walk(client, slug)
        # Nobody decides the Walk gate: reminded, escalated, then decided by policy (go: it passed).
        await wait_for(client, slug, lambda s: s.partnership.step is Step.RECOMMITMENT, timeout=60)

        status, scrape = await worker.get("/metrics")
        assert status == 200
        # The SDK runtime's own metrics...
        assert metric(scrape, "temporal_request_total") > 0
        assert metric(scrape, "temporal_workflow_task_execution_latency_seconds_count") > 0
        steps = {"activity_type": ActivityName.RECORD_STEP}  # run as a local activity
        assert metric(scrape, "temporal_local_activity_execution_latency_seconds_count", **steps) > 0
        # ...and the engine's, on the same meter.
        queue = {"task_queue": settings.task_queue}
        assert metric(scrape, "partnerships_gate_reviews_opened_total", gate="crawl", **queue) == 1
        assert metric(scrape, "partnerships_gate_reviews_opened_total", gate="walk", **queue) == 1
        assert metric(scrape, "partnerships_gate_reviews_decided_total", gate="crawl", outcome="go", by="reviewer") == 1
        assert metric(scrape, "partnerships_gate_reviews_decided_total", gate="walk", outcome="go", by="policy") == 1
        assert metric(scrape, "partnerships_gate_reviews_decided_total") == 2
        assert metric(scrape, "partnerships_gate_reviews_decided_by_policy_total", gate="walk", outcome="go") == 1
        assert metric(scrape, "partnerships_gate_reviews_decided_by_policy_total") == 1
        assert metric(scrape, "partnerships_gate_overrides_total", gate="crawl") == 1
        assert metric(scrape, "partnerships_gate_overrides_total") == 1
        assert metric(scrape, "partnerships_gate_reviews_overdue_total", gate="walk") == 1
        assert metric(scrape, "partnerships_gate_reviews_escalated_total", gate="walk") == 1
        assert metric(scrape, "partnerships_requests_refused_total", update="record_walk_results", cause="rules") == 1
        assert metric(scrape, "partnerships_requests_refused_total") == 1
        assert metric(scrape, "partnerships_notification_failures_total", notifier="slack", error="unavailable") > 0
        assert metric(scrape, "partnerships_notifications_delivered_total") == 0

        # The gauges come from the store: once nothing new is written, they match it.
        await handle.terminate("the test has what it needs")
        deadline = asyncio.get_running_loop().time() + 4 * GAUGE_REFRESH_SECONDS
        while True:
            pending = [n for n in store.notifications() if n.status != "delivered"]
            _, scrape = await worker.get("/metrics")
            oldest = min(n.created_at for n in pending).replace(tzinfo=UTC)
            age_now = (datetime.now(UTC) - oldest).total_seconds()
            if metric(scrape, "partnerships_outbox_pending") == len(pending):
                break
            assert asyncio.get_running_loop().time() < deadline, scrape
            await asyncio.sleep(0.5)
        assert len(pending) > 10
        assert (
            age_now - GAUGE_REFRESH_SECONDS - 1 <= metric(scrape, "partnerships_outbox_oldest_age_seconds") <= age_now
        )
        assert metric(scrape, "partnerships_gate_reviews_open") == 0
    finally:
        assert await worker.stop() == 0


async def test_health_is_503_naming_temporal_while_it_is_unreachable_and_200_once_it_is_back(
    client: Client, settings: Settings
) -> None:
    host, port = client.service_client.config.target_host.rsplit(":", 1)
    temporal = TcpProxy(host, int(port))  # the worker reaches Temporal only through this
    await temporal.open()
    worker = WorkerProcess(_environment(temporal.address, settings))
    await worker.start()
    try:
        await worker.until("/healthz", 200)
        await temporal.cut()
        body = await worker.until("/healthz", 503, timeout=20)
        assert body.startswith("unhealthy\n") and f"temporal: cannot reach {temporal.address}" in body, body
        assert "store" not in body
        await temporal.open()
        assert await worker.until("/healthz", 200, timeout=60) == "ok\n"
    finally:
        await temporal.cut()
        assert await worker.stop() == 0


async def test_health_is_503_naming_the_store_once_its_file_is_gone_while_the_worker_stops(
    client: Client, settings: Settings
) -> None:
    worker = WorkerProcess(_environment(client.service_client.config.target_host, settings))
    await worker.start()
    try:
        await worker.until("/healthz", 200)
        database = Path(settings.store_url.removeprefix("sqlite:///"))
        database.unlink()
        # At once: the health check looks at the store itself; the worker notices within 2 s and
        # stops, answering 503 with the same reason until it is gone.
        status, body = await worker.get("/healthz")
        assert status == 503, body
        assert f"store: the store's file {database} was deleted or replaced" in body
        assert await worker.exited() == 1
    finally:
        await worker.stop()


async def test_json_logs_are_one_object_per_line_with_the_workflow_and_activity_ids(
    client: Client, settings: Settings
) -> None:
    worker = WorkerProcess(
        _environment(client.service_client.config.target_host, settings, PARTNERSHIPS_LOG_FORMAT="json")
    )
    await worker.start()
    try:
        await worker.until("/readyz", 200)
        charter = example_charter()
        await start(client, settings, charter, SCALE)  # its first message cannot reach Slack: the activity says so
        deadline = asyncio.get_running_loop().time() + 30
        while not any("left in the outbox" in line for line in worker.lines):
            assert asyncio.get_running_loop().time() < deadline, "\n".join(worker.lines)
            await asyncio.sleep(0.1)
    finally:
        assert await worker.stop() == 0
    entries = [json.loads(line) for line in worker.lines if line.strip()]
    assert len(entries) == len(worker.lines)
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any("worker polling" in entry["message"] for entry in entries)
    left = next(entry for entry in entries if "left in the outbox" in entry["message"])
    assert left["level"] == "WARNING"
    assert left["workflow_id"] == charter.workflow_id
    assert left["activity_type"] == ActivityName.RECORD_STEP
    assert left["activity_id"]
