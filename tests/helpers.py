"""Helpers to drive partnerships on the real dev server the way the CLI does."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, worker
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from devtools.postgres import POSTGRES_BIN, PostgresServer, free_port, postgres_available
from devtools.samples import sample_scorecard as scorecard
from partnerships.adapters.charter_file import load_charter
from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.keys import Keyring, SigningKey
from partnerships.adapters.store import Store
from partnerships.domain.charter import Charter
from partnerships.domain.gates import Outcome, PilotResult, Rag
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
from partnerships.engine.proofs import Doors
from partnerships.service import commands as service
from worker import build_worker
from workflows import PartnershipWorkflow

# Every test person's key, made afresh in each test process (no key is ever checked in).
KEYRING = Keyring()
# The key the test Slack app signs clicks with; every test partnership trusts it.
SLACK_DOOR = SigningKey.generate("slack-door@tests")
# The key the test web process signs link acts with.
LINK_DOOR = SigningKey.generate("link-door@tests")

US = "dana@ourco.example"
PARTNER = "sam@acme.example"
REVIEWER = "lee@ourco.example"
OUTSIDER = "eve@elsewhere.example"
# A second reviewer for the partner, so that quorum rules have two reviewers on each side.
CAROL = "carol@acme.example"
# Two reviewers on each side, each with a declared side: the quorum tests' governance.
REVIEWERS_TWO_A_SIDE = [
    {"name": "Dana Reyes", "email": US, "side": "us"},
    {"name": "Lee Park", "email": REVIEWER, "side": "us"},
    {"name": "Sam Okafor", "email": PARTNER, "side": "partner"},
    {"name": "Carol Diaz", "email": CAROL, "side": "partner"},
]
# A go over a failing gate needs a written reason at least this long (rules.MIN_OVERRIDE_REASON_CHARS).
LONG_REASON = "the pilots were too small to judge"

# Crawl (4 weeks) lasts 2 s, a review window (30 days) about 2 s, a quarter 6.5 s: room for a
# busy machine to sign and record a pilot's evidence before the Crawl gate opens.
# Phases and task due dates in half-seconds; people's windows (signing, gate reviews,
# re-commitment) in minutes, so a busy machine's slow Updates never race an expiry or a
# decision by policy.
FAST = TimeScale(seconds_per_week=0.5, review_window_seconds=600)
# For the tests of what happens when nobody acts: every deadline compressed alike.
NOBODY_ACTS = TimeScale(seconds_per_week=0.5)

# `make test-cluster` sets it: the suites run against that Temporal (the cluster's frontend,
# `python -m devtools.cluster`) instead of a dev server of their own.
CLUSTER_ADDRESS = os.environ.get("PARTNERSHIPS_TEST_TEMPORAL_ADDRESS") or None


def devserver_only(why: str) -> pytest.MarkDecorator:
    """Skip on the cluster a test that needs a dev server of its own (it restarts one, or needs its UI)."""
    return pytest.mark.skipif(CLUSTER_ADDRESS is not None, reason=f"dev server only: {why}")


class StartedWorkflows(Interceptor, worker.Interceptor):
    """The workflows a session started or ran: on the cluster, which outlives the session, it ends them.

    A client interceptor sees what the session's client starts; as a worker interceptor too
    (workers made with that client take it up) it sees the partnerships the session's workers
    ran, which the CLI started in a subprocess. Tests with a client of their own are swept up
    by their task queue: a test's (`test-…`) that no worker has polled for minutes, whichever
    session of the last day left it.
    """

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.since = datetime.now(UTC) - timedelta(days=1)

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RecordingStarts(next, self.ids)

    def intercept_activity(self, next: worker.ActivityInboundInterceptor) -> worker.ActivityInboundInterceptor:
        return _RecordingActivities(next, self.ids)

    async def terminate_running(self, client: Client) -> None:
        """Terminate those still running: with no worker on their test task queue they would wait for ever."""
        limit = asyncio.Semaphore(16)

        async def terminate(workflow_id: str) -> None:
            async with limit:
                try:
                    await client.get_workflow_handle(workflow_id).terminate(reason="test session ended")
                except RPCError as error:
                    if error.status != RPCStatusCode.NOT_FOUND:  # already closed
                        raise

        await asyncio.gather(*(terminate(workflow_id) for workflow_id in sorted(self.ids)))
        # Another session may be running on the same cluster: only a test queue nobody polls is abandoned.
        since = self.since.isoformat().replace("+00:00", "Z")
        abandoned: dict[str, bool] = {}
        async for execution in client.list_workflows(f'ExecutionStatus="Running" AND StartTime >= "{since}"'):
            queue = execution.task_queue
            if queue.startswith("test-"):
                if queue not in abandoned:
                    abandoned[queue] = not await service.worker_polling(client, queue)
                if abandoned[queue]:
                    await terminate(execution.id)


class _RecordingActivities(worker.ActivityInboundInterceptor):
    def __init__(self, next: worker.ActivityInboundInterceptor, ids: set[str]) -> None:
        super().__init__(next)
        self._ids = ids

    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        if workflow_id := activity.info().workflow_id:
            self._ids.add(workflow_id)
        return await super().execute_activity(input)


class _RecordingStarts(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, ids: set[str]) -> None:
        super().__init__(next)
        self._ids = ids

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self._ids.add(input.id)
        return await super().start_workflow(input)


# The stores the engine supports: a test marked `every_store` runs on each of them.
STORES = ("sqlite", "postgresql")


def postgres_missing() -> str | None:
    """Why the PostgreSQL store tests cannot run here, or None when they can."""
    if not postgres_available():
        return f"PostgreSQL is not in {POSTGRES_BIN} (apt-get install postgresql-15, or set PARTNERSHIPS_POSTGRES_BIN)"
    if find_spec("psycopg") is None:
        return "psycopg is not installed in this venv (it is a dev dependency: make the venv again)"
    return None


@dataclass
class PostgresStores:
    """A PostgreSQL server of this machine for the test session, handing out fresh databases."""

    server: PostgresServer
    admin: Any  # a psycopg connection to the server's `postgres` database, in autocommit

    @classmethod
    def start(cls, folder: Path) -> PostgresStores:
        import psycopg

        server = PostgresServer(folder, free_port())
        server.start()
        admin = psycopg.connect(
            host="127.0.0.1",
            port=server.port,
            user=server.user,
            password=server.password,
            dbname="postgres",
            autocommit=True,
        )
        # Its sessions' clock is not UTC, as on many servers: the store must not depend on it.
        admin.execute(f"ALTER ROLE {server.user} SET timezone = 'America/New_York'")
        return cls(server, admin)

    def new_database(self) -> str:
        """A fresh, empty database as the store's URL (the session's server is removed at its end)."""
        # One statement on an open connection: a third of the time `psql` takes.
        name = f"store_{uuid.uuid4().hex[:16]}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        return self.server.url(name)

    def stop(self) -> None:
        self.admin.close()
        self.server.stop()


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, store: Store, **kwargs: Any) -> AsyncIterator[Worker]:
    worker = build_worker(client, settings, store=store, **kwargs)
    async with worker:
        # Acts are turned away while no worker polls (service.update): as people would, wait for it.
        assert await service.wait_for_worker(client, worker.task_queue, timedelta(seconds=60)), (
            "the worker never polled"
        )
        yield worker


async def start(
    client: Client,
    settings: Settings,
    charter: Charter,
    time_scale: TimeScale = FAST,
    **limits: Any,
) -> WorkflowHandle[PartnershipWorkflow, Any]:
    """Start as `partnerships start` does; `limits` sets StartPartnership's history and retry limits."""
    limits.setdefault("doors", Doors(slack=[SLACK_DOOR.public_line], link=[LINK_DOOR.public_line]))
    return await service.start_partnership(
        client, charter, task_queue=settings.task_queue, time_scale=time_scale, **limits
    )


async def act(client: Client, reference: str, update: Any, request: Any) -> Any:
    """Send an Update signed with the key of the person the request names, as their CLI would."""
    return await service.update(client, reference, update, request, KEYRING.signer_for(request.actor))


async def wait_for(
    client: Client, slug: str, predicate: Callable[[PartnershipStatus], bool], timeout: float = 30
) -> PartnershipStatus:
    """Poll the status query until the predicate holds (the workflow runs on its own timers)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = "no answer"
    while True:
        try:
            current = await service.status(client, slug)
        except (RPCError, service.Unanswered) as error:
            # Queries need a worker: while one restarts, ask again.
            last = str(error)
        else:
            if predicate(current):
                return current
            last = f"{current.partnership.phase}/{current.partnership.step}"
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last status: {last}")
        await asyncio.sleep(0.05)


async def wait_for_new_run(client: Client, workflow_id: str, first_run_id: str | None, timeout: float = 30) -> str:
    """Wait until the workflow has continued as new; returns the new run's id."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        description = await client.get_workflow_handle(workflow_id).describe()
        if description.run_id != first_run_id:
            return description.run_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} did not continue as new")


def at(phase: str, step: Step) -> Callable[[PartnershipStatus], bool]:
    return lambda s: s.partnership.phase.value == phase and s.partnership.step is step


async def sign_both(client: Client, slug: str) -> None:
    await act(client, slug, PartnershipWorkflow.sign_charter, SignRequest(signer=US))
    await act(client, slug, PartnershipWorkflow.sign_charter, SignRequest(signer=PARTNER))


async def record_pilots(client: Client, slug: str, after: tuple[float, ...] = (14, 15), can_scale: bool = True) -> None:
    for i, value in enumerate(after):
        pilot = PilotResult(customer=f"Pilot {i + 1}", metric_before=20, metric_after=value, would_recommend=True)
        await act(
            client,
            slug,
            PartnershipWorkflow.record_pilot_results,
            PilotResultRequest(recorded_by=US, pilot=pilot),
        )
    await act(
        client,
        slug,
        PartnershipWorkflow.record_pilot_results,
        PilotResultRequest(recorded_by=US, integration_can_scale=can_scale),
    )


async def record_walk(client: Client, slug: str, invited: int = 8, adopted: int = 6) -> None:
    await act(
        client,
        slug,
        PartnershipWorkflow.record_walk_results,
        WalkResultRequest(
            recorded_by=US,
            invited=invited,
            adopted=adopted,
            partner_promoting=True,
            support_manageable=True,
        ),
    )


async def decide(client: Client, slug: str, outcome: Outcome, reason: str = "", reviewer: str = REVIEWER) -> Any:
    return await act(
        client,
        slug,
        PartnershipWorkflow.decide,
        DecisionRequest(reviewer=reviewer, outcome=outcome, reason=reason),
    )


async def recommit_both(client: Client, slug: str) -> None:
    for signer in (US, PARTNER):
        await act(
            client,
            slug,
            PartnershipWorkflow.recommit,
            RecommitRequest(signer=signer, roi_model_holds=True),
        )


async def record_scorecard(client: Client, slug: str, rag: Rag = Rag.GREEN) -> None:
    await act(
        client,
        slug,
        PartnershipWorkflow.record_scorecard,
        ScorecardRequest(recorded_by=US, scorecard=scorecard(rag)),
    )


async def reach_walk_review(client: Client, slug: str, invited: int = 8, adopted: int = 6) -> None:
    await sign_both(client, slug)
    await record_pilots(client, slug)
    await wait_for(client, slug, at("crawl", Step.GATE_REVIEW))
    await decide(client, slug, Outcome.GO)
    await wait_for(client, slug, at("walk", Step.UNDERWAY))
    await record_walk(client, slug, invited=invited, adopted=adopted)
    await wait_for(client, slug, at("walk", Step.GATE_REVIEW))


async def complete_task(client: Client, task_id: str, by: str = US) -> Any:
    return await act(
        client,
        task_id,
        PartnershipWorkflow.complete_task,
        CompleteTaskRequest(task_id=task_id, by=by),
    )


HISTORIES = Path(__file__).parent / "histories"


async def keep_history(client: Client, workflow_id: str, name: str, run_id: str | None = None) -> None:
    """With RECORD_HISTORIES=1 (`make histories`), save this run's history for the replay tests."""
    if os.environ.get("RECORD_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json(), encoding="utf-8")


async def settle(client: Client, workflow_id: str, timeout: float = 30) -> int:
    """Wait until the workflow is idle (no workflow task or activity pending, history not growing); its length."""
    handle = client.get_workflow_handle(workflow_id)
    previous = -1
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        description = (await handle.describe()).raw_description
        length = len((await handle.fetch_history()).events)
        # A busy machine may not have picked up a scheduled workflow task yet: that is not idle.
        busy = description.pending_activities or description.HasField("pending_workflow_task")
        if length == previous and not busy:
            return length
        previous = length
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} did not settle within {timeout} s")


EXAMPLE_CHARTER = REPO_ROOT / "charters" / "acme-analytics.yaml"


def example_charter(**changes: object) -> Charter:
    """The Acme example with a unique slug and phases as short as the framework allows."""
    charter = load_charter(EXAMPLE_CHARTER)
    data = charter.model_dump(mode="json")
    data["slug"] = f"acme-{uuid.uuid4().hex[:10]}"
    data["timeline"]["crawl"]["weeks"] = 4
    data["timeline"]["walk"]["weeks"] = 8
    data["governance"]["review_window_days"] = 30
    data["signing"] = {"remind_every_days": 10, "escalate_after_days": 30, "expire_after_days": 60}
    for dotted, value in changes.items():
        target = data
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return with_keys(Charter.model_validate(data))


def with_keys(charter: Charter) -> Charter:
    """The charter with each person's test key beside them."""
    return KEYRING.enrol(charter)


_PLACEHOLDER = re.compile(r'"<FILL IN, e\.g\. (?:[^"\\]|\\.)*>"')


def filled_in(template: str) -> str:
    """A charter template (`partnerships charter new`) as a person fills it in: each
    `"<FILL IN, e.g. X>"` replaced by its example X, a number bare, anything else as text."""

    def example(match: re.Match[str]) -> str:
        shown = json.loads(match.group(0)).removeprefix("<FILL IN, e.g. ").removesuffix(">")
        try:
            float(shown)
        except ValueError:
            return json.dumps(shown, ensure_ascii=False)
        return shown

    return _PLACEHOLDER.sub(example, template)


def tasks_due_next_year(settings: Settings, folder: Path) -> Settings:
    """The same settings with task templates due a year after creation: tests that check an
    act leaves no trace in the history need no overdue-task reminder firing meanwhile."""
    templates = folder / "templates"
    shutil.copytree(settings.templates_dir, templates)
    tasks = templates / "tasks.yaml"
    tasks.write_text(re.sub(r"due_in_weeks: \d+", "due_in_weeks: 52", tasks.read_text(encoding="utf-8")))
    return settings.model_copy(update={"templates_dir": templates})
