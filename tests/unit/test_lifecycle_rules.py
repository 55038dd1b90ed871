"""Property tests of the pure lifecycle: whatever people send, in any order, no gate is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from partnerships.domain.gates import CrawlEvidence, Gate, Outcome, PilotResult, Rag, evaluate_crawl
from partnerships.domain.lifecycle import (
    DecisionRequest,
    ExitRequest,
    Partnership,
    Phase,
    PilotResultRequest,
    RecommitRequest,
    ScorecardRequest,
    SignRequest,
    Step,
    TaskKind,
    TaskRef,
    TimeScale,
    WalkResultRequest,
)
from tests.helpers import OUTSIDER, PARTNER, REVIEWER, US, example_charter, scorecard

# Mostly the right people and plausible requests, so sequences get deep into the lifecycle;
# enough wrong ones to probe every refusal.
PEOPLE = st.sampled_from([US, PARTNER, REVIEWER, OUTSIDER, "morgan@ourco.example"])
OWNERS = st.sampled_from([US, PARTNER, US, PARTNER, OUTSIDER])
REVIEWERS = st.sampled_from([REVIEWER, REVIEWER, REVIEWER, PARTNER, OUTSIDER])
OUTCOMES = st.sampled_from([Outcome.GO, Outcome.GO, Outcome.GO, Outcome.NO_GO, Outcome.RESTART_CRAWL, Outcome.EXTEND])
ALLOWED_MOVES = {
    (Phase.CHARTER, Phase.CRAWL),
    (Phase.CHARTER, Phase.EXITED),
    (Phase.CRAWL, Phase.WALK),
    (Phase.CRAWL, Phase.EXITED),
    (Phase.WALK, Phase.CRAWL),
    (Phase.WALK, Phase.RUN),
    (Phase.WALK, Phase.EXITED),
    (Phase.RUN, Phase.COMPLETED),
}
CHARTER = example_charter()


def _request(data: st.DataObject, kind: str) -> tuple[object, str]:
    who = data.draw(PEOPLE)
    if kind == "sign":
        return SignRequest(signer=data.draw(OWNERS)), "signing"
    if kind == "recommit":
        return RecommitRequest(signer=data.draw(OWNERS), roi_model_holds=data.draw(st.booleans())), "recommitting"
    if kind == "pilot":
        pilot = PilotResult(
            customer=data.draw(st.sampled_from(["A", "B", "C"])),
            metric_before=20,
            metric_after=data.draw(st.floats(0, 40)),
            would_recommend=data.draw(st.booleans()),
        )
        return PilotResultRequest(
            recorded_by=who, pilot=pilot, integration_can_scale=data.draw(st.none() | st.booleans())
        ), "recording_pilot"
    if kind == "walk":
        return WalkResultRequest(
            recorded_by=who,
            invited=data.draw(st.none() | st.integers(0, 12)),
            adopted=data.draw(st.none() | st.integers(0, 12)),
            partner_promoting=data.draw(st.none() | st.booleans()),
            support_manageable=data.draw(st.none() | st.booleans()),
        ), "recording_walk"
    if kind == "scorecard":
        return ScorecardRequest(
            recorded_by=who, scorecard=scorecard(data.draw(st.sampled_from(list(Rag))))
        ), "recording_scorecard"
    if kind == "decide":
        return DecisionRequest(
            reviewer=who,
            outcome=data.draw(st.sampled_from(list(Outcome))),
            reason=data.draw(
                st.sampled_from(
                    ["", "x", "a reason long enough to override"] + ["a long enough reason, in writing"] * 2
                )
            ),
            extend_weeks=data.draw(st.integers(1, 4)),
        ), "deciding"
    return ExitRequest(by=who, reason=data.draw(st.sampled_from(["", "done"]))), "exiting"


def _apply(p: Partnership, request: object, now: datetime) -> None:
    match request:
        case SignRequest():
            p.apply_signature(request, now)
        case RecommitRequest():
            p.apply_recommitment(request, now)
        case PilotResultRequest():
            p.apply_pilot_result(request)
        case WalkResultRequest():
            p.apply_walk_result(request)
        case ScorecardRequest():
            p.apply_scorecard(request)
        case DecisionRequest():
            p.apply_decision(request, now)
        case ExitRequest():
            p.apply_exit(request, now)


def _let_time_pass(p: Partnership, now: datetime, *, until_policy: bool) -> datetime:
    """What the workflow's timers do when nobody acts."""
    if p.step is Step.UNDERWAY and p.phase_ends_at is not None:
        now = max(now, p.phase_ends_at)
        p.open_review(now)
    elif p.step is Step.GATE_REVIEW and p.review is not None:
        if until_policy:
            now = max(now, p.review.policy_at)
            p.apply_policy_decision(now)
    elif p.step in (Step.SIGNING, Step.RECOMMITMENT) and until_policy:
        now = max(now, p.signing_deadlines()[2])
        p.apply_signing_expiry(now)
    return now


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_no_sequence_of_requests_skips_a_phase_or_reaches_run_without_two_passed_gates(data: st.DataObject) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    p = Partnership.begin(CHARTER, TimeScale(), now)
    kinds = ["sign", "recommit", "pilot", "walk", "scorecard", "decide", "time"] * 6 + ["exit", "deadline"]
    for _ in range(data.draw(st.integers(5, 150))):
        if p.ended:
            break
        before = p.phase
        kind = data.draw(st.sampled_from(kinds))
        now += timedelta(hours=1)
        if kind in ("time", "deadline"):
            now = _let_time_pass(p, now, until_policy=kind == "deadline")
        else:
            request, check = _request(data, kind)
            snapshot = p.model_copy(deep=True)
            if getattr(p, f"problems_{check}")(request):
                assert p == snapshot  # judging a request never changes the partnership
                continue
            _apply(p, request, now)
        if p.phase is not before:
            assert (before, p.phase) in ALLOWED_MOVES, f"{before} -> {p.phase}"
        if p.phase is Phase.RUN and before is Phase.WALK:
            decided = [(r.gate, r.decision.outcome) for r in p.reviews if r.decision]
            last_crawl = max(i for i, (g, _) in enumerate(decided) if g is Gate.CRAWL)
            assert decided[last_crawl][1] is Outcome.GO
            assert decided[-1] == (Gate.WALK, Outcome.GO)
            assert {s.side for s in p.recommitments} == {s.side for s in p.signatures}


@settings(max_examples=200, deadline=None)
@given(
    after=st.floats(0, 100),
    better=st.floats(0.01, 50),
    recommend=st.booleans(),
)
def test_a_better_result_never_turns_a_passing_crawl_into_a_failing_one(
    after: float, better: float, recommend: bool
) -> None:
    def passes(value: float) -> bool:
        pilot = PilotResult(customer="A", metric_before=50, metric_after=max(value, 0), would_recommend=recommend)
        return evaluate_crawl(
            CrawlEvidence(pilots=[pilot], integration_can_scale=True), CHARTER, can_extend=True
        ).passed

    # The example's metric is lower-is-better: a smaller value is a better result.
    if passes(after):
        assert passes(after - better)


def test_tasks_created_after_the_partnership_ended_are_moot_unless_they_wind_it_down() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    p = Partnership.begin(CHARTER, TimeScale(), now)
    p.apply_exit(ExitRequest(by=US, reason="acquired"), now)
    qbr = TaskRef(id="x:qbr-1:scorecard", kind=TaskKind.QBR, title="scorecard", owner=US)
    tell = TaskRef(id="x:exit:tell-partner", kind=TaskKind.EXIT, title="tell", owner=US)
    assert p.add_tasks([qbr, tell]) == [qbr]
    assert p.open_tasks == [tell]
