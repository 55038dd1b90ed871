"""Every Update a person sends is validated: a refusal names the field and changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.domain.gates import Outcome, PilotResult
from partnerships.domain.lifecycle import (
    CompleteTaskRequest,
    DecisionRequest,
    ExitRequest,
    PilotResultRequest,
    RecommitRequest,
    ScorecardRequest,
    SignRequest,
    Step,
    TimeScale,
    WalkResultRequest,
)
from partnerships.service import commands as service
from tests.helpers import (
    OUTSIDER,
    PARTNER,
    REVIEWER,
    US,
    act,
    at,
    example_charter,
    running_worker,
    scorecard,
    settle,
    start,
    tasks_due_next_year,
    wait_for,
)
from workflows import PartnershipWorkflow as W

REAL_TIME = TimeScale()  # nothing moves on its own while the test pokes at the workflow


async def _history_length(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events)


async def _assert_refused_without_trace(client: Client, slug: str, update: Any, request: Any, match: str) -> None:
    workflow_id = service.workflow_id_of(slug)
    await settle(client, workflow_id)
    before_state = (await service.status(client, slug)).partnership
    before_events = await _history_length(client, workflow_id)
    with pytest.raises(service.Refused, match=match):
        await act(client, slug, update, request)
    assert (await service.status(client, slug)).partnership == before_state
    assert await _history_length(client, workflow_id) == before_events


async def test_bad_requests_while_signing_are_refused_and_leave_no_trace(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter, REAL_TIME)
        await wait_for(client, charter.slug, lambda s: s.partnership.step is Step.SIGNING)
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=US))
        slug = charter.slug
        pilot = PilotResult(customer="Initech", metric_before=10, metric_after=5, would_recommend=True)
        cases = [
            (W.sign_charter, SignRequest(signer=OUTSIDER), "signer: .* is not a decision owner"),
            (W.sign_charter, SignRequest(signer=US), "signer: the us side has already signed"),
            (
                W.recommit,
                RecommitRequest(signer=PARTNER, roi_model_holds=True),
                "nothing to re-commit",
            ),
            (
                W.record_pilot_results,
                PilotResultRequest(recorded_by=US, pilot=pilot),
                "only in crawl",
            ),
            (W.record_walk_results, WalkResultRequest(recorded_by=US, invited=5), "only in walk"),
            (
                W.record_scorecard,
                ScorecardRequest(recorded_by=US, scorecard=scorecard()),
                "only in run",
            ),
            (
                W.decide,
                DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO),
                "no gate review is open",
            ),
            (W.exit, ExitRequest(by=OUTSIDER, reason="bored"), "by: .* is not named"),
            (W.exit, ExitRequest(by=US, reason=""), "reason: say why"),
            (
                W.complete_task,
                CompleteTaskRequest(task_id="partnership-x:y:z", by=US),
                "not an open task",
            ),
        ]
        for update, request, match in cases:
            await _assert_refused_without_trace(client, slug, update, request, match)


async def test_bad_evidence_and_decisions_in_crawl_and_walk_are_refused_and_leave_no_trace(
    client: Client, settings: Settings, store: Store, tmp_path: Path
) -> None:
    # Crawl lasts 7 s; the review window and every task's due date are far off: no timer fires
    # while the test pokes at Crawl, its review and Walk.
    charter = example_charter(timeline__crawl__pilot_customers=1, timeline__crawl__weeks=7)
    settings = tasks_due_next_year(settings, tmp_path)
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale(seconds_per_week=1, review_window_seconds=600))
        slug = charter.slug
        for signer in (US, PARTNER):
            await act(client, slug, W.sign_charter, SignRequest(signer=signer))
        first = PilotResult(customer="Initech", metric_before=20, metric_after=10, would_recommend=True)
        second = PilotResult(customer="Hooli", metric_before=20, metric_after=10, would_recommend=True)
        await act(client, slug, W.record_pilot_results, PilotResultRequest(recorded_by=US, pilot=first))
        await _assert_refused_without_trace(
            client,
            slug,
            W.record_pilot_results,
            PilotResultRequest(recorded_by=US, pilot=second),
            "pilot.customer: the charter scopes Crawl to 1 pilot",
        )
        await _assert_refused_without_trace(
            client,
            slug,
            W.record_pilot_results,
            PilotResultRequest(recorded_by=OUTSIDER, integration_can_scale=True),
            "recorded_by: .* is not named",
        )
        await act(
            client,
            slug,
            W.record_pilot_results,
            PilotResultRequest(recorded_by=US, integration_can_scale=True),
        )
        await wait_for(client, slug, at("crawl", Step.GATE_REVIEW))
        refusals = [
            (
                DecisionRequest(reviewer=REVIEWER, outcome=Outcome.RESTART_CRAWL, reason="x"),
                "not a decision at the crawl",
            ),
            (
                DecisionRequest(reviewer=REVIEWER, outcome=Outcome.EXTEND, extend_weeks=2),
                "extended by 1 more week",
            ),
            (DecisionRequest(reviewer=PARTNER, outcome=Outcome.GO), "is not a reviewer"),
        ]
        for request, match in refusals:
            await _assert_refused_without_trace(client, slug, W.decide, request, match)
        await act(client, slug, W.decide, DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO))
        await wait_for(client, slug, at("walk", Step.UNDERWAY))
        await _assert_refused_without_trace(
            client,
            slug,
            W.record_walk_results,
            WalkResultRequest(recorded_by=US, invited=6, adopted=7),
            "adopted: 7 is more than the 6 customers invited",
        )
        await _assert_refused_without_trace(
            client,
            slug,
            W.record_walk_results,
            WalkResultRequest(recorded_by=US, adopted=3),
            "invited: record how many customers were invited",
        )
        await _assert_refused_without_trace(
            client,
            slug,
            W.record_walk_results,
            WalkResultRequest(recorded_by=US),
            "nothing to record",
        )


async def test_starting_a_second_workflow_for_the_same_partnership_is_refused(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter, REAL_TIME)
        with pytest.raises(service.Refused, match=f"a partnership '{charter.slug}' already exists"):
            await start(client, settings, charter, REAL_TIME)
