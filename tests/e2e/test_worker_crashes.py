"""Workers die: SIGKILL at chosen points, a new worker takes over, nothing is lost or doubled.

The same partnership is driven twice, once on a worker that is never interrupted and
once on workers killed while waiting for signatures, mid-Crawl, with a gate review
open, and in the middle of activities that write tasks, gate reviews and notifications.
Both runs must end in the same state, with the same rows in the store.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client

from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.store import Store, make_engine
from partnerships.domain.gates import Outcome
from partnerships.domain.lifecycle import Step, TimeScale
from tests.helpers import (
    at,
    complete_task,
    decide,
    example_charter,
    record_pilots,
    record_walk,
    sign_both,
    start,
    wait_for,
)

# Slow enough that no reminder depends on how fast a worker recovers: recovering from a
# crash inside an activity takes its 10 s start-to-close timeout plus a retry, while the
# first reminder (30 days, signatures and reviews alike) comes after 17 s and a policy
# decision after 34 s. Otherwise the two runs could differ by a reminder.
SCALE = TimeScale(seconds_per_week=4)
SLOW_REMINDERS = {"remind_every_days": 30, "escalate_after_days": 60, "expire_after_days": 90}
CRASH_POINTS = [
    "GateReviewRow:review-2",  # recording the Walk gate review as it opens (no outside kill is near)
    "NotificationRow:review-1:decided",  # sending the Crawl decision
    "TaskRow:walk-1:formal-integration",  # the second of the Walk kickoff tasks
    "NotificationRow:exit:sent",  # sending the exit tasks
]


class WorkerProcess:
    """A worker in its own process, restarted whenever it dies."""

    def __init__(self, client: Client, settings: Settings, markers: Path, crash_points: list[str]) -> None:
        self._env = {
            **os.environ,
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "DATABASE_URL": settings.store_url,
            "PARTNERSHIPS_TASK_QUEUE": settings.task_queue,
            "CRASH_POINTS": ",".join(crash_points),
            "CRASH_MARKERS": str(markers),
        }
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.self_inflicted_crashes = 0
        self.log: list[str] = []
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.crash_worker",
            cwd=REPO_ROOT,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.starts += 1
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if b"worker ready" in line:
                break
            if not line:
                # It died at a crash point before it could say it was ready: start another.
                await self.process.wait()
                self.self_inflicted_crashes += 1
                await self.start()
                return
        self._watch = asyncio.create_task(self._restart_when_it_dies(self.process))

    async def _restart_when_it_dies(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            self.log.append(chunk.decode(errors="replace"))
        if await process.wait() == -signal.SIGKILL and process is self.process:
            self.self_inflicted_crashes += 1
            await self.start()

    async def kill(self) -> None:
        """SIGKILL from outside, then a fresh worker."""
        assert self.process is not None and self._watch is not None
        self._watch.cancel()
        self.process.kill()
        await self.process.wait()
        await self.start()

    async def stop(self) -> None:
        if self._watch:
            self._watch.cancel()
        if self.process and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def _drive(client: Client, settings: Settings, slug_charter, at_point: Callable[[str], Awaitable[None]]):
    charter = slug_charter
    handle = await start(client, settings, charter, SCALE)
    await at_point("waiting for signatures")
    await sign_both(client, charter.slug)
    await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY), timeout=120)
    await at_point("mid-crawl")
    await record_pilots(client, charter.slug)
    await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW), timeout=120)
    await at_point("gate review open")
    await decide(client, charter.slug, Outcome.GO)
    await wait_for(client, charter.slug, at("walk", Step.UNDERWAY), timeout=120)
    await record_walk(client, charter.slug, invited=8, adopted=2)
    await wait_for(client, charter.slug, at("walk", Step.GATE_REVIEW), timeout=120)
    await decide(client, charter.slug, Outcome.NO_GO, reason="nobody adopted it")
    status = await wait_for(
        client, charter.slug, lambda s: any(t.kind.value == "exit" for t in s.partnership.open_tasks), timeout=60
    )
    for task in status.partnership.open_tasks:
        await complete_task(client, task.id)
    return await asyncio.wait_for(handle.result(), timeout=120)


def _store_contents(store: Store, workflow_id: str) -> dict[str, object]:
    """Everything the store holds for a partnership, with the workflow id taken out."""

    def local(key: str) -> str:
        return key.removeprefix(workflow_id)

    tasks = store.tasks(workflow_id, status=None)
    notifications = store.notifications(workflow_id)
    return {
        "tasks": sorted((local(t.id), t.kind, t.status) for t in tasks),
        "task_rows": len(tasks),
        "reviews": [(local(r.id), r.gate, r.outcome, r.by_policy) for r in store.reviews(workflow_id)],
        "notifications": sorted(local(n.key) for n in notifications),
        "notification_rows": len(notifications),
        "undelivered": [n.key for n in notifications if n.status != "delivered"],
        "partnership": [(p.phase, p.step) for p in store.partnerships() if p.id == workflow_id],
    }


async def _run(client: Client, settings: Settings, tmp: Path, crash: bool) -> tuple[object, dict[str, object], int]:
    charter = example_charter(signing=SLOW_REMINDERS)
    worker = WorkerProcess(client, settings, tmp / "markers", CRASH_POINTS if crash else [])
    await worker.start()

    async def at_point(name: str) -> None:
        if crash:
            await worker.kill()

    try:
        outcome = await _drive(client, settings, charter, at_point)
    except BaseException:
        print("".join(worker.log)[-5000:])
        raise
    finally:
        await worker.stop()
    store = Store(make_engine(settings.store_url))
    contents = _store_contents(store, charter.workflow_id)
    store.engine.dispose()
    crashes = worker.starts - 1
    return (outcome.phase, outcome.end_reason.replace(charter.slug, "")), contents, crashes


async def test_killed_workers_end_in_the_same_state_as_an_uninterrupted_run_with_nothing_doubled(
    client: Client, tmp_path: Path
) -> None:
    def settings_for(name: str) -> Settings:
        return Settings(
            DATABASE_URL=f"sqlite:///{tmp_path / name / 'store.db'}",
            PARTNERSHIPS_TASK_QUEUE=f"crash-{name}-{os.getpid()}-{id(tmp_path)}",
        )

    reference_outcome, reference, _ = await _run(client, settings_for("reference"), tmp_path / "reference", False)
    crashed_outcome, crashed, crashes = await _run(client, settings_for("crashed"), tmp_path / "crashed", True)

    assert crashes == 3 + len(CRASH_POINTS)  # three kills from outside, one per crash point
    assert sorted(p.name for p in (tmp_path / "crashed" / "markers").iterdir()) == sorted(
        p.replace(":", "_") for p in CRASH_POINTS
    )
    assert crashed_outcome == reference_outcome
    assert crashed == reference
    assert reference["undelivered"] == []
