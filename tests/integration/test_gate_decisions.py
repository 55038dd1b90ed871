"""Gate decisions on the real dev server: restarts, exits, overrides, policy and who may decide."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.domain.gates import Outcome
from partnerships.domain.lifecycle import Step
from partnerships.service import commands as service
from tests.helpers import (
    NOBODY_ACTS,
    OUTSIDER,
    US,
    at,
    decide,
    example_charter,
    keep_history,
    reach_walk_review,
    record_pilots,
    running_worker,
    settle,
    sign_both,
    start,
    wait_for,
)


async def test_a_failed_walk_can_restart_crawl_with_the_changes_recorded(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await reach_walk_review(client, charter.slug, invited=8, adopted=3)
        status = await service.status(client, charter.slug)
        assert status.current_gate is not None
        assert status.current_gate.recommendation is Outcome.RESTART_CRAWL
        await decide(
            client,
            charter.slug,
            Outcome.RESTART_CRAWL,
            reason="pilot with the self-serve tier instead",
        )
        status = await wait_for(
            client,
            charter.slug,
            lambda s: (
                s.partnership.phase.value == "crawl"
                and s.partnership.crawl_attempt == 2
                and any(t.id.endswith("crawl-2:pick-pilots") for t in s.partnership.open_tasks)
            ),
        )
    await keep_history(client, charter.workflow_id, "walk-fail-restart-crawl")
    assert status.partnership.crawl.pilots == []  # a restarted Crawl measures afresh
    assert status.partnership.crawl_restarts_left == 0
    # The first Crawl's and the abandoned Walk's kickoff tasks no longer apply: closed as moot.
    earlier = [t for t in store.tasks(charter.workflow_id, status=None) if "crawl-2" not in t.id]
    assert {t.kind for t in earlier} == {"crawl-kickoff", "walk-kickoff"}
    assert {t.status for t in earlier} == {"cancelled"}
    assert {t.kind for t in status.partnership.open_tasks} == {"crawl-kickoff"}
    walk_review = next(r for r in store.reviews(charter.workflow_id) if r.gate == "walk")
    assert (walk_review.outcome, walk_review.reason) == (
        "restart-crawl",
        "pilot with the self-serve tier instead",
    )


async def test_a_failed_walk_can_end_the_partnership(client: Client, settings: Settings, store: Store) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await reach_walk_review(client, charter.slug, invited=8, adopted=2)
        await decide(client, charter.slug, Outcome.NO_GO, reason="customers did not adopt")
        status = await wait_for(
            client,
            charter.slug,
            lambda s: s.partnership.phase.value == "exited" and bool(s.partnership.open_tasks),
        )
    await keep_history(client, charter.workflow_id, "walk-no-go-exit")
    assert status.partnership.step is Step.WINDING_DOWN
    assert "customers did not adopt" in (status.partnership.end_reason or "")
    assert {t.kind for t in store.tasks(charter.workflow_id)} == {"exit"}


async def test_a_go_against_a_failing_gate_needs_a_written_reason_that_stays_on_record(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug, after=(18, 17))
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        with pytest.raises(service.Refused, match="needs a written reason"):
            await decide(client, charter.slug, Outcome.GO, reason="trust me")
        reason = "the pilot metric was skewed by a holiday week; Acme's CEO committed two engineers"
        await decide(client, charter.slug, Outcome.GO, reason=reason)
        await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        status = await wait_for(client, charter.slug, lambda s: len(s.partnership.open_tasks) > 3)
        await settle(client, charter.workflow_id)
    await keep_history(client, charter.workflow_id, "crawl-override-go")
    decision = status.partnership.reviews[-1].decision
    assert decision is not None and decision.overrides_failing_gate and decision.reason == reason
    row = store.reviews(charter.workflow_id)[0]
    assert row.overrides_failing_gate and row.reason == reason and row.decided_by == "lee@ourco.example"
    override = next(n for n in store.notifications(charter.workflow_id) if n.kind == "override")
    assert override.audience == "morgan@ourco.example"  # the escalation path hears of every override


async def test_only_the_charters_reviewers_may_decide_a_gate(client: Client, settings: Settings, store: Store) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        for outsider in (OUTSIDER, "sam@acme.example"):  # a decision owner is not a reviewer
            with pytest.raises(service.Refused, match="is not a reviewer"):
                await decide(client, charter.slug, Outcome.GO, reviewer=outsider)
        status = await service.status(client, charter.slug)
        assert status.partnership.step is Step.GATE_REVIEW
        await decide(client, charter.slug, Outcome.GO, reviewer=US)
        await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))


async def test_an_undecided_review_is_reminded_escalated_then_decided_by_policy(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter(governance__review_window_days=7)
    async with running_worker(client, settings, store):
        await start(client, settings, charter, NOBODY_ACTS)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug, after=(19, 18))  # fails: policy will say no-go
        status = await wait_for(
            client,
            charter.slug,
            lambda s: s.partnership.phase.value == "exited" and bool(s.partnership.open_tasks),
        )
    await keep_history(client, charter.workflow_id, "review-decided-by-policy")
    decision = status.partnership.reviews[-1].decision
    assert decision is not None
    assert (decision.outcome, decision.by_policy, decision.decided_by) == (
        Outcome.NO_GO,
        True,
        "policy",
    )
    kinds = [n.kind for n in store.notifications(charter.workflow_id)]
    assert kinds.index("review-opened") < kinds.index("review-reminder") < kinds.index("review-escalation")
    assert kinds.index("review-escalation") < kinds.index("decision")
    escalation = next(n for n in store.notifications(charter.workflow_id) if n.kind == "review-escalation")
    assert escalation.audience == "morgan@ourco.example"
