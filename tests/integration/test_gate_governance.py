"""Gates decided the way both companies agreed: votes and quorum, conditional go, hold (real dev server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.domain.charter import Charter
from partnerships.domain.gates import Outcome, Rag, Scorecard
from partnerships.domain.lifecycle import ConditionRequest, DecisionRequest, ScorecardRequest, Step, TimeScale
from partnerships.engine.contracts import DecisionAccepted
from partnerships.service import commands as service
from partnerships.service.portfolio_query import list_partnerships
from tests.helpers import (
    OUTSIDER,
    PARTNER,
    REVIEWER,
    US,
    act,
    at,
    complete_task,
    example_charter,
    keep_history,
    reach_walk_review,
    recommit_both,
    record_pilots,
    record_walk,
    running_worker,
    scorecard,
    settle,
    sign_both,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow

# Our two reviewers and the partner's decision owner, who reviews for the partner.
REVIEWERS_OF_BOTH_SIDES = [
    {"name": "Dana Reyes", "email": US, "side": "us"},
    {"name": "Lee Park", "email": REVIEWER, "side": "us"},
    {"name": "Sam Okafor", "email": PARTNER, "side": "partner"},
]


def voting_charter(quorum: object) -> Charter:
    return example_charter(governance__reviewers=REVIEWERS_OF_BOTH_SIDES, governance__quorum=quorum)


async def vote(client: Client, slug: str, reviewer: str, outcome: Outcome, **fields: Any) -> DecisionAccepted:
    result = await act(
        client,
        slug,
        PartnershipWorkflow.decide,
        DecisionRequest(reviewer=reviewer, outcome=outcome, **fields),
    )
    assert isinstance(result, DecisionAccepted)
    return result


async def at_crawl_review(client: Client, slug: str, after: tuple[float, ...] = (14, 15)) -> None:
    await sign_both(client, slug)
    await record_pilots(client, slug, after=after)
    await wait_for(client, slug, at("crawl", Step.GATE_REVIEW))


async def test_one_per_side_waits_for_the_partners_reviewer_and_keeps_every_vote(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = voting_charter({"crawl": "one-per-side"})
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await at_crawl_review(client, charter.slug)

        lee = await vote(client, charter.slug, REVIEWER, Outcome.GO)
        dana = await vote(client, charter.slug, US, Outcome.GO)
        # Two of ours agree: still not a decision both companies made.
        assert (lee.decided, dana.decided) == (False, False)
        assert "a reviewer from each side must agree" in dana.tally
        status = await service.status(client, charter.slug)
        assert status.partnership.step is Step.GATE_REVIEW
        assert status.partnership.review is not None
        assert [v.name for v in status.partnership.review.votes] == ["Lee Park", "Dana Reyes"]
        assert "votes on the Crawl gate review from Sam Okafor" in status.awaiting

        sam = await vote(client, charter.slug, PARTNER, Outcome.GO)
        assert sam.decided
        status = await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        await settle(client, charter.workflow_id)
    await keep_history(client, charter.workflow_id, "votes-one-per-side")
    decision = status.partnership.reviews[-1].decision
    assert decision is not None
    assert (decision.outcome, decision.quorum, decision.decided_by) == (Outcome.GO, "one-per-side", PARTNER)
    assert [(v.reviewer, v.outcome) for v in decision.votes] == [
        (REVIEWER, Outcome.GO),
        (US, Outcome.GO),
        (PARTNER, Outcome.GO),
    ]
    [row] = [r for r in store.reviews(charter.workflow_id) if r.gate == "crawl"]
    assert row.outcome == "go" and row.review_json is not None and '"quorum":"one-per-side"' in row.review_json


async def test_a_vote_can_change_until_the_quorum_agrees_and_dissent_stays_in_the_record(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = voting_charter("majority")
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await at_crawl_review(client, charter.slug)

        await vote(client, charter.slug, REVIEWER, Outcome.NO_GO, reason="not convinced")
        with pytest.raises(service.Refused, match="already voted no-go"):
            await vote(client, charter.slug, REVIEWER, Outcome.NO_GO, reason="not convinced")
        with pytest.raises(service.Refused, match="not a reviewer"):
            await vote(client, charter.slug, OUTSIDER, Outcome.GO)
        first = await vote(client, charter.slug, US, Outcome.GO)
        assert not first.decided  # 1 go, 1 no-go of 3: no majority yet
        changed = await vote(client, charter.slug, REVIEWER, Outcome.EXTEND, extend_weeks=1)
        assert not changed.decided and "changed their vote to extend" in changed.summary
        final = await vote(client, charter.slug, PARTNER, Outcome.GO)
        assert final.decided
        status = await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
    decision = status.partnership.reviews[-1].decision
    assert decision is not None
    assert decision.outcome is Outcome.GO and decision.decided_by_name == "Dana Reyes and Sam Okafor"
    # Lee's changed vote is kept, with how often it changed: the record shows the dissent.
    lee = next(v for v in decision.votes if v.reviewer == REVIEWER)
    assert (lee.outcome, lee.changes) == (Outcome.EXTEND, 1)


async def test_policy_records_the_votes_cast_and_reminds_only_those_who_have_not_voted(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = voting_charter("all")
    # A short review window: Lee votes at once, nobody else does, so the deadlines pass.
    scale = TimeScale(seconds_per_week=0.5, review_window_seconds=5)
    async with running_worker(client, settings, store):
        await start(client, settings, charter, scale)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        await vote(client, charter.slug, REVIEWER, Outcome.NO_GO, reason="want a third pilot")
        status = await wait_for(client, charter.slug, at("walk", Step.UNDERWAY), timeout=60)
        await settle(client, charter.workflow_id)
    await keep_history(client, charter.workflow_id, "votes-then-policy")
    decision = status.partnership.reviews[-1].decision
    assert decision is not None and decision.by_policy and decision.outcome is Outcome.GO
    assert [(v.reviewer, v.outcome) for v in decision.votes] == [(REVIEWER, Outcome.NO_GO)]
    [reminder] = [n for n in store.notifications(charter.workflow_id) if n.kind == "review-reminder"]
    assert REVIEWER not in reminder.audience and US in reminder.audience and PARTNER in reminder.audience


async def test_a_conditional_go_whose_condition_is_met_passes_the_next_gate(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await at_crawl_review(client, charter.slug)
        condition = ConditionRequest(title="Sign the data processing agreement", owner=PARTNER, due_in_days=30)
        await vote(client, charter.slug, REVIEWER, Outcome.GO, conditions=[condition])
        status = await wait_for(
            client, charter.slug, lambda s: any(t.kind.value == "condition" for t in s.partnership.open_tasks)
        )
        [task] = [t for t in status.partnership.open_tasks if t.kind.value == "condition"]
        assert (task.title, task.owner) == ("Sign the data processing agreement", PARTNER)
        await complete_task(client, task.id, by=PARTNER)
        await record_walk(client, charter.slug)
        status = await wait_for(client, charter.slug, at("walk", Step.GATE_REVIEW))
        assert status.current_gate is not None
        conditions = next(c for c in status.current_gate.criteria if c.key == "conditions")
        assert conditions.passed and conditions.measured == "1 of 1 met"
        assert status.current_gate.recommendation is Outcome.GO
        await vote(client, charter.slug, REVIEWER, Outcome.GO)
        await wait_for(client, charter.slug, at("walk", Step.RECOMMITMENT))
        await settle(client, charter.workflow_id)
    await keep_history(client, charter.workflow_id, "conditional-go-met")
    [row] = [t for t in store.tasks(charter.workflow_id, status=None) if t.kind == "condition"]
    assert (row.status, row.owner) == ("done", PARTNER)


async def test_an_unmet_condition_is_chased_then_fails_the_next_gate(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await at_crawl_review(client, charter.slug)
        # Due in a day of a half-second week: overdue at once, escalated soon after, unmet at the Walk gate.
        condition = ConditionRequest(title="Name an integration engineer", owner=PARTNER, due_in_days=1)
        await vote(client, charter.slug, REVIEWER, Outcome.GO, conditions=[condition])
        await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        await record_walk(client, charter.slug)
        status = await wait_for(client, charter.slug, at("walk", Step.GATE_REVIEW))
        await settle(client, charter.workflow_id)
    await keep_history(client, charter.workflow_id, "conditional-go-unmet")
    assert status.current_gate is not None
    conditions = next(c for c in status.current_gate.criteria if c.key == "conditions")
    assert not conditions.passed and "Name an integration engineer" in (conditions.measured or "")
    # Every other Walk criterion passed; the unmet condition alone fails the gate.
    assert [c.key for c in status.current_gate.failing] == ["conditions"]
    assert status.current_gate.recommendation is Outcome.RESTART_CRAWL
    kinds = [n.kind for n in store.notifications(charter.workflow_id)]
    assert "condition-escalation" in kinds and "tasks-overdue" in kinds
    [escalation] = [n for n in store.notifications(charter.workflow_id) if n.kind == "condition-escalation"]
    assert "morgan@ourco.example" in escalation.audience
    await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def test_a_hold_stops_everything_until_its_recheck_date_then_the_review_reopens(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await at_crawl_review(client, charter.slug)
        with pytest.raises(service.Refused) as refused:
            await vote(client, charter.slug, REVIEWER, Outcome.HOLD)
        assert str(refused.value).splitlines() == [
            "recheck_in_days: a hold needs the day it is checked again",
            "reason: a hold needs a reason (what must change before the re-check)",
        ]
        # 90 days of a half-second week: six seconds on hold.
        held = await vote(
            client, charter.slug, REVIEWER, Outcome.HOLD, reason="waiting for their security review", recheck_in_days=90
        )
        assert held.step == Step.ON_HOLD.value
        status = await service.status(client, charter.slug)
        hold = status.partnership.hold
        assert hold is not None
        assert status.awaiting.startswith("nothing until ") and "waiting for their security review" in status.awaiting
        # The Web UI and `list --on-hold` see it: its step, and the re-check date as its next deadline.
        listed = await eventually_listed(client, charter.slug)
        assert listed["step"] == "on-hold"
        assert listed["next_deadline"] == hold.until.isoformat()
        reopened = await wait_for(
            client, charter.slug, lambda s: s.partnership.step is Step.GATE_REVIEW and s.partnership.review_count == 2
        )
        await settle(client, charter.workflow_id)
    await keep_history(client, charter.workflow_id, "hold-and-reopen")
    assert reopened.partnership.phase.value == "crawl" and reopened.partnership.hold is None
    review = reopened.partnership.review
    assert review is not None and review.id.endswith("review-2") and review.votes == []
    held_row, _ = sorted(store.reviews(charter.workflow_id), key=lambda r: r.opened_at)
    assert (held_row.outcome, held_row.reason) == ("hold", "waiting for their security review")
    kinds = [n.kind for n in store.notifications(charter.workflow_id)]
    assert kinds.count("review-opened") == 2 and "on-hold" in kinds
    await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def eventually_listed(client: Client, slug: str) -> dict[str, Any]:
    """The partnership's row in `list --on-hold`, once visibility has caught up (it lags a little)."""
    for _ in range(200):
        rows = await list_partnerships(client, on_hold=True)
        row = next((r for r in rows if r["slug"] == slug), None)
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"{slug} never listed as on hold")


async def reach_run(client: Client, slug: str) -> None:
    await reach_walk_review(client, slug)
    await vote(client, slug, REVIEWER, Outcome.GO)
    await wait_for(client, slug, at("walk", Step.RECOMMITMENT))
    await recommit_both(client, slug)
    await wait_for(client, slug, at("run", Step.UNDERWAY))


async def record_quarter(client: Client, slug: str, **changes: Any) -> None:
    card = scorecard(Rag.GREEN).model_copy(update=changes)
    await act(
        client,
        slug,
        PartnershipWorkflow.record_scorecard,
        ScorecardRequest(recorded_by=US, scorecard=Scorecard.model_validate(card.model_dump())),
    )


async def test_a_structured_exit_criterion_met_at_a_qbr_recommends_exit_and_says_which(
    client: Client, settings: Settings, store: Store
) -> None:
    written = "Acme drops the marketplace listing"
    charter = example_charter(exit_criteria=[written, {"revenue_below": 50_000}])
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await reach_run(client, charter.slug)
        await record_quarter(client, charter.slug, revenue_closed=12_000.0)
        status = await wait_for(client, charter.slug, at("run", Step.GATE_REVIEW))
        gate = status.current_gate
        assert gate is not None and gate.recommendation is Outcome.NO_GO
        assert gate.rationale.startswith("exit criterion met: revenue closed below 50000 for a quarter")
        assert [c.key for c in gate.failing] == ["exit-2"]
        text = next(c for c in gate.criteria if c.key == "exit-1")
        assert text.passed and text.question.endswith(written)  # a checklist item the reviewers tick
        with pytest.raises(service.Refused, match="exit_criteria_met: 2 is not one of the charter's written"):
            await vote(client, charter.slug, REVIEWER, Outcome.NO_GO, exit_criteria_met=[2])
        await vote(client, charter.slug, REVIEWER, Outcome.NO_GO, exit_criteria_met=[1])
        status = await wait_for(client, charter.slug, lambda s: s.partnership.phase.value == "completed")
        await settle(client, charter.workflow_id)
    await keep_history(client, charter.workflow_id, "exit-criterion-met")
    decision = status.partnership.reviews[-1].decision
    assert decision is not None and decision.exit_criteria_met == [written]


async def test_a_bound_missed_for_fewer_quarters_than_allowed_calls_for_a_revalidation_first(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter(exit_criteria=[{"adoption_below_pct": 40, "quarters": 2}])
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await reach_run(client, charter.slug)
        await record_quarter(client, charter.slug, integration_rate_pct=25.0)
        status = await wait_for(client, charter.slug, at("run", Step.GATE_REVIEW))
        assert status.current_gate is not None
        assert status.current_gate.recommendation is Outcome.REVALIDATE
        assert "adoption below 40 % for 2 quarters running" in status.current_gate.rationale
        await vote(client, charter.slug, REVIEWER, Outcome.REVALIDATE)
        status = await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        assert status.partnership.phase_label() == "Walk (re-validation 1)"
        assert status.partnership.crawl_restarts_left == 0  # a re-validation never goes back to Crawl
        await record_walk(client, charter.slug)
        await wait_for(client, charter.slug, at("walk", Step.GATE_REVIEW))
        await vote(client, charter.slug, REVIEWER, Outcome.GO)
        await wait_for(client, charter.slug, at("walk", Step.RECOMMITMENT))
        await recommit_both(client, charter.slug)
        status = await wait_for(client, charter.slug, at("run", Step.UNDERWAY))
        assert status.partnership.quarter == 2
        # Missed again: the second quarter running meets the criterion.
        await record_quarter(client, charter.slug, integration_rate_pct=30.0)
        status = await wait_for(client, charter.slug, at("run", Step.GATE_REVIEW))
        await settle(client, charter.workflow_id)
    await keep_history(client, charter.workflow_id, "revalidation-then-exit-criterion")
    assert status.current_gate is not None and status.current_gate.recommendation is Outcome.NO_GO
    tasks = {t.id for t in store.tasks(charter.workflow_id, status=None)}
    assert f"{charter.workflow_id}:walk-revalidation-1:invite-customers" in tasks
    await client.get_workflow_handle(charter.workflow_id).terminate("test over")
