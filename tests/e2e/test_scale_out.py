"""Scale-out: two worker processes on one task queue share a PostgreSQL store; one is SIGKILLed.

A load of partnerships is driven through signing, Crawl, its gate, Walk, its gate, the
re-commitment and Run, in three scripts (into Run then exited; Walk failed; Crawl failed).
Once several are in Walk and none has finished, one worker is SIGKILLed and **not
restarted**: the other carries every partnership to its end alone, picking up workflows
the dead one had cached from Temporal's history and the store, because a worker keeps
nothing of its own. The same load runs at the same time on a single worker with its own
store (the reference). Both end with the same outcomes and the same rows, and the store
holds exactly what the workflows say: no row or Slack message lost or doubled.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.store import Store, make_engine
from partnerships.domain.gates import Outcome
from partnerships.domain.lifecycle import CompleteTaskRequest, ExitRequest, Step, TimeScale
from partnerships.engine.contracts import PartnershipStatus
from partnerships.service import commands as service
from tests.fake_slack import BOT_TOKEN, CHANNEL_ID, FakeSlack
from tests.helpers import (
    US,
    PostgresStores,
    act,
    at,
    decide,
    example_charter,
    recommit_both,
    record_pilots,
    record_walk,
    sign_both,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow as W

# Phases last long enough that a workflow stranded on the killed worker (its workflow task
# times out after 10 s) still gets its evidence in before the phase ends: Crawl 12 s, Walk
# 24 s. Every wait for a person (signatures, reviews, the re-commitment) is paced by a
# 10-minute review window, so no reminder, escalation or policy decision depends on speed.
SCALE = TimeScale(seconds_per_week=3, review_window_seconds=600)
SCRIPTS = ("into-run", "walk-failed", "crawl-failed") * 5  # 15 partnerships
KILL_WHEN_IN_WALK = 3
WAIT = 240.0  # seconds: generous, the machine is small and busy; nothing asserts on speed


class WorkerProcess:
    """One worker in its own process (`tests/e2e/crash_worker.py` with no crash points)."""

    def __init__(self, env: dict[str, str], markers: Path) -> None:
        self._env = {**os.environ, **env, "CRASH_POINTS": "", "CRASH_MARKERS": str(markers)}
        self.process: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._drain: asyncio.Task[None] | None = None

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
        assert self.process.stdout is not None
        while b"worker ready" not in (line := await asyncio.wait_for(self.process.stdout.readline(), WAIT)):
            self.log.append(line.decode(errors="replace"))
            assert line, f"the worker died while starting:\n{''.join(self.log)[-3000:]}"
        self._drain = asyncio.create_task(self._keep_reading())

    async def _keep_reading(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while chunk := await self.process.stdout.read(65536):
            self.log.append(chunk.decode(errors="replace"))

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown, whatever it was doing is cut off
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        if self._drain is not None:
            await self._drain


@dataclass
class Load:
    """One run of the load: its workers, its store, what the drivers did and saw."""

    name: str
    store_url: str
    task_queue: str
    slack: FakeSlack
    workers: list[WorkerProcess] = field(default_factory=list)
    acts: Counter[str] = field(default_factory=Counter)  # accepted acts, by workflow id
    in_walk: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    killed_while: dict[str, int] = field(default_factory=dict)
    # Set once the kill is done: the drivers hold each partnership's last act until then, so the
    # kill lands while every one of them is still running, however fast the early ones go.
    may_finish: asyncio.Event = field(default_factory=asyncio.Event)


async def _act(load: Load, workflow_id: str, send: Callable[[], Awaitable[Any]], count: int = 1) -> None:
    await send()
    load.acts[workflow_id] += count


async def _drive(client: Client, load: Load, script: str, index: int) -> tuple[str, PartnershipStatus, Any]:
    charter = example_charter(
        slug=f"{load.name}-{index:02d}-{os.getpid()}",
        signing={"remind_every_days": 30, "escalate_after_days": 60, "expire_after_days": 90},
    )
    slug, wid = charter.slug, charter.workflow_id
    settings = _settings(load)
    handle = await start(client, settings, charter, SCALE)
    await _act(load, wid, lambda: sign_both(client, slug), 2)
    passing = script != "crawl-failed"
    await _act(load, wid, lambda: record_pilots(client, slug, after=(14, 15) if passing else (19, 18)), 3)
    await wait_for(client, slug, at("crawl", Step.GATE_REVIEW), timeout=WAIT)
    if not passing:
        await _act(load, wid, lambda: decide(client, slug, Outcome.NO_GO))
    else:
        await _act(load, wid, lambda: decide(client, slug, Outcome.GO))
        await wait_for(client, slug, at("walk", Step.UNDERWAY), timeout=WAIT)
        load.in_walk.add(wid)
        adopted = 6 if script == "into-run" else 2
        await _act(load, wid, lambda: record_walk(client, slug, invited=8, adopted=adopted))
        await wait_for(client, slug, at("walk", Step.GATE_REVIEW), timeout=WAIT)
        if script == "into-run":
            await _act(load, wid, lambda: decide(client, slug, Outcome.GO))
            await wait_for(client, slug, at("walk", Step.RECOMMITMENT), timeout=WAIT)
            await _act(load, wid, lambda: recommit_both(client, slug), 2)
            await wait_for(client, slug, at("run", Step.UNDERWAY), timeout=WAIT)
            exit_ = ExitRequest(by=US, reason="the pilot programme ends here")
            await _act(load, wid, lambda: act(client, slug, W.exit, exit_))
        else:
            await _act(load, wid, lambda: decide(client, slug, Outcome.NO_GO, reason="too few adopted it"))
    status = await wait_for(
        client, slug, lambda s: any(t.kind.value == "exit" for t in s.partnership.open_tasks), timeout=WAIT
    )
    done = CompleteTaskRequest(task_ids=[t.id for t in status.partnership.open_tasks], by=US)
    await load.may_finish.wait()
    await _act(load, wid, lambda: act(client, slug, W.complete_task, done))
    outcome = await asyncio.wait_for(handle.result(), timeout=WAIT)
    load.finished.add(wid)
    return script, await service.status(client, slug), outcome


def _settings(load: Load) -> Settings:
    return Settings(DATABASE_URL=load.store_url, PARTNERSHIPS_TASK_QUEUE=load.task_queue)


async def _run(client: Client, load: Load, workers: int, tmp: Path, kill: bool) -> list[tuple[str, Any, Any]]:
    env = {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "DATABASE_URL": load.store_url,
        "PARTNERSHIPS_TASK_QUEUE": load.task_queue,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": load.slack.base_url,
        "SLACK_CHANNEL": CHANNEL_ID,
    }
    load.workers = [WorkerProcess(env, tmp / f"{load.name}-{i}") for i in range(workers)]
    # Started together on an empty database: each creates the store's tables (one at a time).
    await asyncio.gather(*(w.start() for w in load.workers))

    async def kill_one_in_the_middle() -> None:
        while len(load.in_walk) < KILL_WHEN_IN_WALK:
            await asyncio.sleep(0.1)
        load.killed_while = {"in walk": len(load.in_walk), "finished": len(load.finished)}
        await load.workers[0].kill()
        load.may_finish.set()

    killer = asyncio.create_task(kill_one_in_the_middle()) if kill else None
    if not kill:
        load.may_finish.set()
    try:
        return await asyncio.gather(*(_drive(client, load, script, i) for i, script in enumerate(SCRIPTS)))
    except BaseException:
        for worker in load.workers:
            print(f"--- worker {worker.pid} of {load.name}:\n{''.join(worker.log)[-4000:]}")
        raise
    finally:
        if killer is not None:
            killer.cancel()
        for worker in load.workers:
            await worker.stop()


def _record(store: Store, slack: FakeSlack, status: PartnershipStatus, acts: int) -> dict[str, Any]:
    """What the store holds for one partnership, checked against its workflow's state; ids made local."""
    p = status.partnership
    wid = p.workflow_id

    def local(key: str) -> str:
        return key.removeprefix(wid)

    (row,) = [r for r in store.partnerships() if r.id == wid]
    assert (row.phase, row.step, row.end_reason) == (p.phase.value, p.step.value, p.end_reason)
    reviews = store.reviews(wid)
    assert {r.id: r.outcome for r in reviews} == {r.id: r.decision and r.decision.outcome.value for r in p.reviews}
    tasks = store.tasks(wid, status=None)
    assert {t.id for t in tasks if t.status == "open"} == {t.id for t in p.open_tasks}
    stored_acts = store.acts(wid)
    assert len(stored_acts) == acts and len({a.nonce for a in stored_acts}) == acts
    messages = store.notifications(wid)
    assert [n.key for n in messages if n.status != "delivered"] == []
    # Every message in the outbox reached Slack exactly once, and Slack got nothing else for it.
    posted = Counter(m["metadata"]["event_payload"]["key"] for m in slack.posted(CHANNEL_ID))
    assert {n.key: posted[n.key] for n in messages} == {n.key: 1 for n in messages}
    assert {key for key in posted if key.startswith(f"{wid}:")} <= {n.key for n in messages}
    assert sum(n.key == f"{wid}:ended" for n in messages) == 1
    return {
        "outcome": (row.phase, row.step, (row.end_reason or "").replace(p.charter.slug, "<slug>")),
        "reviews": [(local(r.id), r.gate, r.outcome, r.by_policy, r.overrides_failing_gate) for r in reviews],
        "tasks": sorted((local(t.id), t.kind, t.status) for t in tasks),
        # Overdue-task reminders depend on how long people took; every other message does not.
        "messages": sorted(local(n.key) for n in messages if not n.key.endswith(":overdue")),
        "acts": sorted((a.update, a.actor) for a in stored_acts),
    }


async def _worker_identities(client: Client, workflow_id: str) -> set[str]:
    """Which worker processes completed this partnership's workflow tasks (`<pid>@<host>`)."""
    identities = set()
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            identities.add(event.workflow_task_completed_event_attributes.identity)
    return identities


async def test_two_workers_sharing_a_postgresql_store_survive_one_killed_with_nothing_lost_or_doubled(
    client: Client, postgres: PostgresStores, tmp_path: Path
) -> None:
    with FakeSlack() as two_slack, FakeSlack() as one_slack:
        queue = f"scale-{os.getpid()}-{id(tmp_path)}"
        two = Load("two", postgres.new_database(), f"{queue}-two", two_slack)
        one = Load("one", postgres.new_database(), f"{queue}-one", one_slack)
        scaled, reference = await asyncio.gather(
            _run(client, two, 2, tmp_path, kill=True), _run(client, one, 1, tmp_path, kill=False)
        )

        # The kill came in the middle: several partnerships in Walk, none finished.
        assert two.killed_while["in walk"] >= KILL_WHEN_IN_WALK and two.killed_while["finished"] == 0
        killed, survivor = two.workers
        assert killed.process is not None and killed.process.returncode == -9
        # Two processes, neither of them this one; each completed workflow tasks, and the
        # survivor finished workflows the killed one had worked on: only Temporal and the store carry state.
        assert len({killed.pid, survivor.pid, os.getpid()}) == 3
        by_workflow = {
            s.partnership.workflow_id: await _worker_identities(client, s.partnership.workflow_id) for _, s, _ in scaled
        }
        pids = {int(identity.split("@")[0]) for identities in by_workflow.values() for identity in identities}
        assert pids == {killed.pid, survivor.pid}
        assert any(len({int(i.split("@")[0]) for i in ids}) == 2 for ids in by_workflow.values())

        records: dict[str, list[dict[str, Any]]] = {}
        for load, results in ((two, scaled), (one, reference)):
            store = Store(make_engine(load.store_url))
            try:
                records[load.name] = [
                    {"script": script, **_record(store, load.slack, status, load.acts[status.partnership.workflow_id])}
                    for script, status, _ in results
                ]
                # Nothing in the store belongs to no partnership of this load.
                assert {p.id for p in store.partnerships()} == {s.partnership.workflow_id for _, s, _ in results}
            finally:
                store.engine.dispose()

    rows = Counter(
        f"{kind} rows" for r in records["two"] for kind in ("reviews", "tasks", "messages", "acts") for _ in r[kind]
    )
    shared = sum(len({i.split("@")[0] for i in ids}) == 2 for ids in by_workflow.values())
    print(
        f"scale-out: {len(SCRIPTS)} partnerships, killed while {two.killed_while}, {shared} finished by the survivor "
        f"after the killed worker had run them; per run: {dict(rows)}"
    )
    assert records["two"] == records["one"]
    assert len({(r["script"], str(r["reviews"])) for r in records["two"]}) == len(set(SCRIPTS))
