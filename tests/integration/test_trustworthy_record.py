"""The record both companies trust: no race, refusal or hostile start wedges, drops or overwrites it.

Each test runs a real partnership on the dev server and compares the store with the
workflow's own state once everything has settled.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import text
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities import Messenger, StepRecorder
from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store, make_engine
from partnerships.adapters.templates import MessageTexts, TaskList, load_task_templates, make_environment
from partnerships.domain.gates import PilotResult
from partnerships.domain.lifecycle import (
    CompleteTaskRequest,
    DecisionRequest,
    ExitRequest,
    PilotResultRequest,
    SignRequest,
    Step,
    TimeScale,
)
from partnerships.domain.vocabulary import WORKFLOW_TYPE, Outcome
from partnerships.engine.contracts import PartnershipStatus, StartPartnership
from partnerships.engine.converter import DATA_CONVERTER
from partnerships.service import commands as service
from partnerships.service.rebuild import NothingSent, rebuild
from tests.helpers import (
    FAST,
    PARTNER,
    REVIEWER,
    US,
    act,
    at,
    example_charter,
    record_pilots,
    running_worker,
    settle,
    sign_both,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow as W

EXIT = ExitRequest(by=US, reason="the partner changed strategy")


async def _settled_state(client: Client, slug: str, workflow_id: str) -> PartnershipStatus:
    await settle(client, workflow_id)
    return await service.status(client, slug)


def _assert_store_matches(store: Store, status: PartnershipStatus) -> None:
    """The store tells the same story as the workflow: phase, decisions, open tasks, one ended message."""
    p = status.partnership
    (row,) = [r for r in store.partnerships() if r.id == p.workflow_id]
    assert (row.phase, row.step, row.end_reason) == (p.phase.value, p.step.value, p.end_reason)
    decided = {r.id: r.outcome for r in store.reviews(p.workflow_id) if r.outcome}
    assert decided == {r.id: r.decision.outcome.value for r in p.reviews if r.decision}
    assert {t.id for t in store.tasks(p.workflow_id)} == {t.id for t in p.open_tasks}
    ended = [n for n in store.notifications(p.workflow_id) if n.key.endswith(":ended")]
    assert len(ended) == (1 if p.ended else 0)
    assert status.record_problem is None


# Each act, at a moment it is valid, racing an exit sent at the same time.
RACES: dict[str, tuple[str, Any]] = {
    "second-signature": ("signing", W.sign_charter),
    "pilot-result": ("crawl", W.record_pilot_results),
    "decision": ("crawl-review", W.decide),
    "task-done": ("crawl", W.complete_task),
    "another-exit": ("crawl", W.exit),
}


@pytest.mark.parametrize("race", RACES, ids=list(RACES))
@pytest.mark.every_store
async def test_an_act_racing_an_exit_leaves_the_store_equal_to_the_workflow(
    client: Client, settings: Settings, store: Store, race: str
) -> None:
    where, update = RACES[race]
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter, FAST if where == "crawl-review" else TimeScale())
        if where == "signing":
            await act(client, charter.slug, W.sign_charter, SignRequest(signer=US))
            request: Any = SignRequest(signer=PARTNER)
        else:
            await sign_both(client, charter.slug)
            status = await wait_for(
                client, charter.slug, lambda s: at("crawl", Step.UNDERWAY)(s) and bool(s.partnership.open_tasks)
            )
            request = {
                "pilot-result": PilotResultRequest(recorded_by=US, integration_can_scale=True),
                "task-done": CompleteTaskRequest(task_id=status.partnership.open_tasks[0].id, by=US),
                "another-exit": ExitRequest(by=PARTNER, reason="we agree: stop here"),
            }.get(race)
            if where == "crawl-review":
                await record_pilots(client, charter.slug)
                await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
                request = DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO)
        results = await asyncio.gather(
            act(client, charter.slug, update, request),
            act(client, charter.slug, W.exit, EXIT),
            return_exceptions=True,
        )
        # Either may lose the race (the other ended the partnership first), never both.
        assert sum(isinstance(r, service.Refused) for r in results) <= 1, results
        assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, service.Refused)]
        status = await wait_for(client, charter.slug, lambda s: s.partnership.step is Step.WINDING_DOWN)
        status = await _settled_state(client, charter.slug, charter.workflow_id)
    _assert_store_matches(store, status)


def _refuse_status_rows(store: Store, phase: str) -> None:
    """A trigger named refuse_<phase> that aborts every status row in that phase, until it is dropped.

    Both raise a constraint error (SQLite's RAISE(ABORT) is one), as a value the database rejects would."""
    refused = f"'{phase} rows refused by a test trigger'"
    with store.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text(
                    f"CREATE FUNCTION refuse_{phase}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"RAISE EXCEPTION {refused} USING ERRCODE = 'check_violation'; END $$"
                )
            )
            when = f"FOR EACH ROW WHEN (NEW.phase = '{phase}') EXECUTE FUNCTION refuse_{phase}()"
        else:
            when = f"WHEN NEW.phase = '{phase}' BEGIN SELECT RAISE(ABORT, {refused}); END"
        connection.execute(text(f"CREATE TRIGGER refuse_{phase} BEFORE UPDATE ON partnerships {when}"))


def _accept_status_rows(store: Store, phase: str) -> None:
    with store.engine.begin() as connection:
        on = " ON partnerships" if connection.dialect.name == "postgresql" else ""
        connection.execute(text(f"DROP TRIGGER refuse_{phase}{on}"))


@pytest.mark.every_store
async def test_a_record_the_store_refuses_is_visible_and_catches_up_once_the_cause_is_fixed(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    # The store refuses every status row in Crawl: a stand-in for a value the database rejects.
    _refuse_status_rows(store, "crawl")
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale(), record_retry_seconds=0.5)
        await sign_both(client, charter.slug)
        refused = await wait_for(client, charter.slug, lambda s: s.record_problem is not None)
        assert "crawl rows refused by a test trigger" in (refused.record_problem or "")
        assert refused.partnership.phase.value == "crawl"
        # The partnership goes on while its record waits: people can still act.
        await act(
            client, charter.slug, W.record_pilot_results, PilotResultRequest(recorded_by=US, integration_can_scale=True)
        )
        description = await client.get_workflow_handle(charter.workflow_id).describe()
        assert description.status is not None and description.status.name == "RUNNING"
        _accept_status_rows(store, "crawl")
        caught_up = await wait_for(client, charter.slug, lambda s: s.record_problem is None)
        await act(client, charter.slug, W.exit, EXIT)
        await wait_for(client, charter.slug, lambda s: s.partnership.step is Step.WINDING_DOWN)
        status = await _settled_state(client, charter.slug, charter.workflow_id)
    assert caught_up.partnership.phase.value == "crawl"
    kinds = [n.kind for n in store.notifications(charter.workflow_id)]
    assert kinds.count("tasks") == 2 and kinds.count("partnership-ended") == 1
    _assert_store_matches(store, status)


@pytest.mark.every_store
async def test_an_exit_whose_record_the_store_refuses_does_not_close_before_its_tasks_exist(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    # The step that ends the partnership (and makes its exit tasks) is refused until the trigger goes.
    _refuse_status_rows(store, "exited")
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale(), record_retry_seconds=0.5)
        await sign_both(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        await act(client, charter.slug, W.exit, EXIT)
        refused = await wait_for(client, charter.slug, lambda s: s.record_problem is not None)
        assert refused.partnership.step is Step.WINDING_DOWN
        await settle(client, charter.workflow_id)
        # Nothing closed it meanwhile: no exit task exists yet, and the partnership waits for its record.
        still = await service.status(client, charter.slug)
        assert still.partnership.step is Step.WINDING_DOWN and still.record_problem is not None
        _accept_status_rows(store, "exited")
        status = await wait_for(
            client, charter.slug, lambda s: s.record_problem is None and bool(s.partnership.open_tasks)
        )
        assert status.partnership.step is Step.WINDING_DOWN
        assert {t.kind.value for t in status.partnership.open_tasks} == {"exit"}


@pytest.mark.every_store
async def test_evidence_recorded_before_an_exit_reaches_the_store_and_show(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug)
        await act(client, charter.slug, W.exit, EXIT)
        status = await wait_for(client, charter.slug, lambda s: s.partnership.step is Step.WINDING_DOWN)
        status = await _settled_state(client, charter.slug, charter.workflow_id)
    (row,) = [r for r in store.partnerships() if r.id == charter.workflow_id]
    kept = json.loads(row.evidence_json or "{}")
    assert [p["customer"] for p in kept["pilots"]] == ["Pilot 1", "Pilot 2"] and kept["integration_can_scale"]
    assert status.partnership.unreviewed_evidence() == kept


async def _fails_at_once(client: Client, settings: Settings, workflow_id: str, start_input: Any) -> ApplicationError:
    handle = await client.start_workflow(
        WORKFLOW_TYPE, start_input, id=workflow_id, task_queue=settings.task_queue, result_type=None
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), timeout=30)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


@pytest.mark.every_store
async def test_a_start_that_does_not_belong_to_its_workflow_fails_at_once_and_writes_nothing(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    other = example_charter()
    async with running_worker(client, settings, store):
        wrong_id = await _fails_at_once(client, settings, other.workflow_id, StartPartnership(charter=charter))
        assert wrong_id.type == "InvalidStart" and "charter.slug" in wrong_id.message
        forged = await _fails_at_once(
            client,
            settings,
            charter.workflow_id,
            StartPartnership(resume=_state_in_run(charter)),
        )
        assert forged.type == "InvalidStart" and "resume:" in forged.message
        garbled = await _fails_at_once(client, settings, f"partnership-{other.slug}-x", {"charter": 5, "extra": 1})
        assert garbled.type == "InvalidStart" and "charter" in garbled.message
    assert store.partnerships() == [] and store.notifications() == []


@pytest.mark.every_store
async def test_a_slug_used_again_after_its_partnership_is_gone_never_touches_the_first_record(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        first = await start(client, settings, charter, TimeScale())
        await sign_both(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        await settle(client, charter.workflow_id)
        before = (
            store.partnerships(),
            store.tasks(status=None),
            store.notifications(),
            store.reviews(charter.workflow_id),
        )
        # As after retention (or a delete): Temporal takes the same workflow id again. Here the
        # first run is terminated and the id reused directly, which is what a start finds then.
        await first.terminate("the first partnership's history is gone")
        second = await client.start_workflow(
            WORKFLOW_TYPE,
            StartPartnership(charter=charter),
            id=charter.workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            result_type=None,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(second.result(), timeout=30)
    assert "a slug names one partnership for good" in str(failed.value.cause.cause or failed.value.cause)
    assert _everything(store, charter.workflow_id) == before


def _everything(store: Store, workflow_id: str) -> tuple[Any, ...]:
    return store.partnerships(), store.tasks(status=None), store.notifications(), store.reviews(workflow_id)


def _state_in_run(charter: Any) -> Any:
    from datetime import UTC, datetime

    from partnerships.domain.lifecycle import Partnership, Phase

    forged = Partnership.begin(charter, TimeScale(), datetime.now(UTC))
    forged.phase, forged.step = Phase.RUN, Step.UNDERWAY
    return forged


async def test_two_thousand_corrections_in_one_crawl_keep_every_run_far_below_temporals_limits(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    corrections = 2_000
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        await sign_both(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        for i in range(corrections):
            pilot = PilotResult(customer="Initech", metric_before=10, metric_after=7 + i % 3, would_recommend=True)
            await act(client, charter.slug, W.record_pilot_results, PilotResultRequest(recorded_by=US, pilot=pilot))
        status = await _settled_state(client, charter.slug, charter.workflow_id)
        runs = [run async for run in client.list_workflows(f"WorkflowId = '{charter.workflow_id}'")]
    # Temporal warns at 10,240 events and stops a run at 51,200; every run here stays near 2,000.
    lengths = sorted(run.history_length for run in runs)
    assert len(runs) >= 4 and lengths[-1] <= 2_100, lengths
    assert [(p.customer, p.metric_after) for p in status.partnership.crawl.pilots] == [
        ("Initech", 7 + (corrections - 1) % 3)
    ]
    assert status.partnership.phase.value == "crawl" and status.partnership.step is Step.UNDERWAY


def _recorder_for(store: Store, settings: Settings) -> StepRecorder:
    environment = make_environment(settings.templates_dir)
    messenger = Messenger(store, NothingSent(), MessageTexts(environment), "http://ui.example/namespaces/default")
    return StepRecorder(store, TaskList(environment, load_task_templates(settings.templates_dir)), messenger)


def _record_of(store: Store, workflow_id: str) -> dict[str, Any]:
    """Everything the store holds about one partnership, minus when a row was last touched."""
    (row,) = [r for r in store.partnerships() if r.id == workflow_id]
    return {
        "partnership": row.model_dump(exclude={"updated_at"}),
        "reviews": [r.model_dump() for r in store.reviews(workflow_id)],
        "tasks": [t.model_dump(exclude={"description"}) for t in store.tasks(workflow_id, status=None)],
        "messages": [(n.key, n.kind, n.subject, n.audience) for n in store.notifications(workflow_id)],
    }


@pytest.mark.every_store
async def test_a_store_rebuilt_from_temporal_holds_the_same_record_and_a_second_rebuild_changes_nothing(
    client: Client, settings: Settings, store: Store, new_store_url: Callable[[str], str]
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        handle = await start(client, settings, charter)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        await act(client, charter.slug, W.decide, DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO))
        await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        await act(client, charter.slug, W.exit, EXIT)
        status = await wait_for(
            client, charter.slug, lambda s: s.partnership.step is Step.WINDING_DOWN and bool(s.partnership.open_tasks)
        )
        done = CompleteTaskRequest(task_ids=[t.id for t in status.partnership.open_tasks], by=US)
        await act(client, charter.slug, W.complete_task, done)
        await handle.result()
    lost = _record_of(store, charter.workflow_id)

    rebuilt = Store(make_engine(new_store_url("rebuilt")))
    first = await rebuild(client, rebuilt, _recorder_for(rebuilt, settings), only=charter.workflow_id)
    again = _record_of(rebuilt, charter.workflow_id)
    second = await rebuild(client, rebuilt, _recorder_for(rebuilt, settings), only=charter.workflow_id)

    assert first.problems == [] and first.partnerships == {charter.workflow_id} and first.steps > 0
    assert again == lost
    assert _record_of(rebuilt, charter.workflow_id) == again and second.settled_messages == 0
    assert {n.status for n in rebuilt.notifications(charter.workflow_id)} == {"delivered"}
    rebuilt.engine.dispose()


# ------------------------------------------------- any interleaving, chosen by hypothesis

ACTS = ("sign-us", "sign-partner", "pilot", "can-scale", "task-done", "exit-us", "exit-partner")
WAVES = st.lists(st.lists(st.sampled_from(ACTS), min_size=1, max_size=3), min_size=1, max_size=4)


def _request(kind: str, status: PartnershipStatus) -> tuple[Any, Any]:
    open_tasks = status.partnership.open_tasks
    return {
        "sign-us": (W.sign_charter, SignRequest(signer=US)),
        "sign-partner": (W.sign_charter, SignRequest(signer=PARTNER)),
        "pilot": (W.record_pilot_results, PilotResultRequest(recorded_by=US, pilot=_a_pilot())),
        "can-scale": (W.record_pilot_results, PilotResultRequest(recorded_by=PARTNER, integration_can_scale=True)),
        "task-done": (
            W.complete_task,
            CompleteTaskRequest(task_ids=[t.id for t in open_tasks[:2]] or ["no-such-task"], by=US),
        ),
        "exit-us": (W.exit, EXIT),
        "exit-partner": (W.exit, ExitRequest(by=PARTNER, reason="we stop too")),
    }[kind]


def _a_pilot() -> PilotResult:
    return PilotResult(customer="Initech", metric_before=10, metric_after=7, would_recommend=True)


async def _waves_of_concurrent_acts(target: str, settings: Settings, waves: list[list[str]]) -> None:
    client = await Client.connect(target, data_converter=DATA_CONVERTER)
    store = Store(make_engine(settings.store_url))
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        for wave in waves:
            status = await service.status(client, charter.slug)
            calls = [act(client, charter.slug, *_request(kind, status)) for kind in wave]
            for result in await asyncio.gather(*calls, return_exceptions=True):
                # A refusal is a fine answer (the act did not apply then); anything else is a defect.
                assert result is not None and (
                    not isinstance(result, BaseException) or isinstance(result, service.Refused)
                )
        if not (await service.status(client, charter.slug)).partnership.ended:
            await act(client, charter.slug, W.exit, EXIT)
        await wait_for(client, charter.slug, lambda s: s.partnership.step in (Step.WINDING_DOWN, Step.CLOSED))
        status = await _settled_state(client, charter.slug, charter.workflow_id)
    _assert_store_matches(store, status)


@examples(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(waves=WAVES)
def test_any_interleaving_of_concurrent_acts_leaves_the_store_equal_to_the_workflow(
    env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory, waves: list[list[str]]
) -> None:
    # Its own event loop and client: hypothesis drives plain functions.
    folder = tmp_path_factory.mktemp("interleaving")
    own = Settings(DATABASE_URL=f"sqlite:///{folder / 'p.db'}", PARTNERSHIPS_TASK_QUEUE=f"test-{uuid.uuid4()}")
    asyncio.run(_waves_of_concurrent_acts(env.client.service_client.config.target_host, own, waves))


@pytest.mark.every_store
async def test_a_store_out_of_reach_longer_than_the_local_budget_is_written_by_a_regular_activity(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        handle = await start(client, settings, charter, TimeScale(), local_record_seconds=1)
        await sign_both(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        await settle(client, charter.workflow_id)
        # Another process holds the store locked: the exit's step waits past its local budget.
        with store.engine.connect() as blocker:
            if blocker.dialect.name == "postgresql":
                blocker.exec_driver_sql("LOCK TABLE partnerships IN ACCESS EXCLUSIVE MODE")
            else:
                blocker.exec_driver_sql("BEGIN EXCLUSIVE")
            await act(client, charter.slug, W.exit, EXIT)
            await _until_history_shows(handle, "ACTIVITY_TASK_SCHEDULED")
            if blocker.dialect.name == "postgresql":
                blocker.rollback()
            else:
                blocker.exec_driver_sql("ROLLBACK")
        status = await wait_for(client, charter.slug, lambda s: s.partnership.step is Step.WINDING_DOWN)
        status = await _settled_state(client, charter.slug, charter.workflow_id)
    description = await handle.describe()
    assert description.status is not None and description.status.name == "RUNNING"
    _assert_store_matches(store, status)


async def _until_history_shows(handle: Any, event: str, timeout: float = 60) -> None:
    from temporalio.api.enums.v1 import EventType

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        events = (await handle.fetch_history()).events
        if any(EventType.Name(e.event_type) == f"EVENT_TYPE_{event}" for e in events):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {event} in the history")
