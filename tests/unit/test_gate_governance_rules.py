"""The rules around votes, conditions, holds and re-validation, on the pure domain (no server)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from partnerships.domain.gates import Outcome, PilotResult, Rag
from partnerships.domain.lifecycle import (
    AmendRequest,
    CompleteTaskRequest,
    ConditionRequest,
    DecisionRequest,
    ExitRequest,
    Partnership,
    Phase,
    PilotResultRequest,
    Step,
    TaskKind,
    TaskRef,
    TimeScale,
    WalkResultRequest,
)
from tests.helpers import LONG_REASON, PARTNER, REVIEWER, REVIEWERS_TWO_A_SIDE, US, example_charter, scorecard

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FOUR = REVIEWERS_TWO_A_SIDE


def pilot(after: float) -> PilotResult:
    return PilotResult(customer="Pilot 1", metric_before=20, metric_after=after, would_recommend=True)


def in_crawl(**changes: object) -> Partnership:
    p = Partnership.begin(example_charter(**changes), TimeScale(), NOW)
    p.phase, p.step = Phase.CRAWL, Step.UNDERWAY
    p.crawl.integration_can_scale = True
    return p


def vote(p: Partnership, who: str, outcome: Outcome, **fields: object) -> None:
    request = DecisionRequest(reviewer=who, outcome=outcome, **fields)
    assert p.problems_deciding(request) == []
    p.apply_decision(request, NOW)


def test_a_go_that_stops_counting_when_the_gate_fails_counts_again_and_decides_when_it_passes() -> None:
    p = in_crawl(governance__reviewers=FOUR, governance__quorum="2 of 4")
    p.crawl.pilots = [pilot(10)]  # -50 %: passes
    p.open_review(NOW)
    vote(p, US, Outcome.GO)
    p.apply_pilot_result(PilotResultRequest(recorded_by=US, pilot=pilot(19)))  # -5 %: now it fails
    assert p.settle_review(NOW) is None
    assert "1 go without a written reason, not counted" in p.tally()
    vote(p, REVIEWER, Outcome.GO, reason=LONG_REASON)
    assert p.review is not None and p.review.decision is None  # Dana's go gave no reason: one counted go
    p.apply_pilot_result(PilotResultRequest(recorded_by=US, pilot=pilot(10)))  # passes again
    settled = p.settle_review(NOW)
    assert settled is not None and settled.decided_review is not None
    decision = settled.decided_review.decision
    assert decision is not None and decision.outcome is Outcome.GO and not decision.overrides_failing_gate
    assert decision.decided_by_name == "Dana Reyes and Lee Park"


def test_an_override_names_only_the_go_voters_who_wrote_a_reason() -> None:
    p = in_crawl(governance__reviewers=FOUR, governance__quorum="2 of 4")
    p.crawl.pilots = [pilot(10)]
    p.open_review(NOW)
    vote(p, US, Outcome.GO)  # while it passes: no reason needed
    p.apply_pilot_result(PilotResultRequest(recorded_by=US, pilot=pilot(19)))
    vote(p, REVIEWER, Outcome.GO, reason=LONG_REASON)
    vote(p, PARTNER, Outcome.GO, reason=LONG_REASON)
    decided = p.reviews[-1].decision
    assert decided is not None and decided.overrides_failing_gate
    assert decided.decided_by_name == "Lee Park and Sam Okafor"
    assert {v.reviewer for v in decided.votes} == {US, REVIEWER, PARTNER}  # Dana's vote stays in the record


def test_a_condition_met_while_the_next_review_is_open_passes_that_gate_at_once() -> None:
    p = in_crawl()
    p.crawl.pilots = [pilot(10)]
    p.open_review(NOW)
    condition = ConditionRequest(title="Sign the DPA", owner=PARTNER, due_in_days=30)
    transition = p.apply_decision(DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO, conditions=[condition]), NOW)
    [made] = transition.conditions
    p.add_tasks([TaskRef(id=made.id, kind=TaskKind.CONDITION, title=made.title, owner=made.owner)])
    p.apply_walk_result(
        WalkResultRequest(recorded_by=US, invited=8, adopted=7, partner_promoting=True, support_manageable=True)
    )
    p.open_review(NOW + timedelta(weeks=8))
    assert p.review is not None and p.review.evaluation.recommendation is Outcome.RESTART_CRAWL
    p.apply_task_completion(CompleteTaskRequest(task_id=made.id, by=PARTNER))
    assert p.review.evaluation.recommendation is Outcome.GO
    assert next(c for c in p.review.evaluation.criteria if c.key == "conditions").passed


def test_evidence_recorded_on_hold_is_kept_when_the_partnership_exits() -> None:
    p = in_crawl()
    p.crawl.pilots = [pilot(10)]
    p.open_review(NOW)
    vote(p, REVIEWER, Outcome.HOLD, reason="their security review", recheck_in_days=30)
    assert p.step is Step.ON_HOLD
    p.apply_pilot_result(PilotResultRequest(recorded_by=US, pilot=pilot(12).model_copy(update={"customer": "B"})))
    p.apply_exit(ExitRequest(by=US, reason="Acme was acquired"), NOW)
    assert p.evidence_at_end is not None and len(p.evidence_at_end["pilots"]) == 2  # type: ignore[arg-type]
    assert p.hold is None and p.phase is Phase.EXITED


def test_a_decision_owner_cannot_be_declared_a_reviewer_of_the_other_side() -> None:
    turned = [{**FOUR[0], "side": "partner"}, *FOUR[1:]]
    problem = "dana@ourco.example is the us side's decision owner, not side partner"
    with pytest.raises(ValidationError, match=re.escape(problem)):
        example_charter(governance__reviewers=turned)


def in_run() -> Partnership:
    p = in_crawl(exit_criteria=["Acme drops the marketplace listing", {"revenue_below": 50_000, "quarters": 2}])
    p.phase, p.step, p.quarter = Phase.RUN, Step.UNDERWAY, 1
    return p


def test_a_revalidation_is_still_run_for_its_end_and_for_amendments() -> None:
    p = in_run()
    p.scorecard = scorecard(Rag.GREEN).model_copy(update={"revenue_closed": 10_000.0})
    p.open_review(NOW)
    assert p.review is not None and p.review.evaluation.recommendation is Outcome.REVALIDATE
    # Going on regardless over a missed bound is an override: it needs a reason.
    refused = p.problems_deciding(DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO))
    assert any(problem.startswith("reason: a go against a failing gate (exit-2)") for problem in refused)
    vote(p, REVIEWER, Outcome.REVALIDATE)
    assert (p.phase, p.revalidating) == (Phase.WALK, True)
    amendment = AmendRequest(by=US, charter=example_charter(), reason="lower the bound")
    assert any("only before Run" in problem for problem in p.problems_amending(amendment))
    p.apply_exit(ExitRequest(by=US, reason="Acme was acquired"), NOW)
    assert p.phase is Phase.COMPLETED


def test_a_reviewer_who_ticks_a_written_exit_criterion_cannot_vote_go() -> None:
    p = in_run()
    p.scorecard = scorecard(Rag.GREEN)
    p.open_review(NOW)
    problems = p.problems_deciding(DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO, exit_criteria_met=[1]))
    assert problems == ["exit_criteria_met: an exit criterion you judge met calls for no-go or revalidate, not go"]
    vote(p, REVIEWER, Outcome.NO_GO, exit_criteria_met=[1])
    decision = p.reviews[-1].decision
    assert decision is not None and decision.exit_criteria_met == ["Acme drops the marketplace listing"]
