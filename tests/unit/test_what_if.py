"""`what-if` judges the record again with the workflow's own gate and quorum functions.

Every review here is made by the pure lifecycle (signed, evidence recorded, reviewed, voted
or left to policy) and read back from its JSON, as the store keeps it; the expected flips
are worked out by hand in each test's comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from partnerships.domain.gates import PilotResult, Rag
from partnerships.domain.lifecycle import (
    DecisionRequest,
    GateReview,
    Partnership,
    PilotResultRequest,
    RecommitRequest,
    ScorecardRequest,
    SignRequest,
    Step,
    TaskKind,
    TimeScale,
    Transition,
    WalkResultRequest,
)
from partnerships.domain.portfolio import PartnershipFacts, ReviewFacts, TaskFacts
from partnerships.domain.vocabulary import Gate, Outcome, Phase
from partnerships.domain.what_if import (
    DecidedBy,
    Judgement,
    RuleSet,
    funnel_under,
    judge,
    recorded_funnel,
    what_if,
)
from tests.helpers import PARTNER, REVIEWER, US, example_charter, scorecard

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DANA, LEE, SAM = "Dana Reyes", "Lee Park", "Sam Okafor"
SIDED = [
    {"name": DANA, "email": US, "side": "us"},
    {"name": SAM, "email": PARTNER, "side": "partner"},
]


@dataclass
class Story:
    """One partnership through the pure lifecycle, keeping its decided reviews and kickoff tasks."""

    p: Partnership
    now: datetime = T0
    decided: list[GateReview] = field(default_factory=list)
    tasks: list[TaskFacts] = field(default_factory=list)

    @classmethod
    def begin(cls, slug: str, **charter: Any) -> Story:
        story = cls(Partnership.begin(example_charter(slug=slug, **charter), TimeScale(), T0))
        for signer in (US, PARTNER):
            request = SignRequest(signer=signer)
            assert story.p.problems_signing(request) == []
            story.took(story.p.apply_signature(request, story.later()))
        return story

    def later(self, days: float = 1) -> datetime:
        self.now += days * DAY
        return self.now

    def took(self, transition: Transition | None) -> None:
        if transition is None:
            return
        if transition.tasks in (TaskKind.CRAWL_KICKOFF, TaskKind.RUN_KICKOFF):
            kind = transition.tasks.value
            self.tasks.append(
                TaskFacts(f"{self.p.workflow_id}:{kind}", self.p.workflow_id, kind, kind, US, "open", self.now)
            )
        if transition.decided_review is not None:
            # As the store keeps it: the whole review, as JSON.
            self.decided.append(GateReview.model_validate_json(transition.decided_review.model_dump_json()))

    def pilots(self, *after: float, recommend: bool = True) -> Story:
        # Time to first dashboard, lower is better, baseline 20 h: 15 h is +25 %, 15.6 h is +22 %.
        for number, value in enumerate(after, start=1):
            pilot = PilotResult(
                customer=f"Pilot {number}", metric_before=20, metric_after=value, would_recommend=recommend
            )
            self._record_pilot(PilotResultRequest(recorded_by=US, pilot=pilot))
        self._record_pilot(PilotResultRequest(recorded_by=US, integration_can_scale=True))
        return self

    def _record_pilot(self, request: PilotResultRequest) -> None:
        assert self.p.problems_recording_pilot(request) == []
        self.p.apply_pilot_result(request)

    def walk(self, invited: int, adopted: int) -> Story:
        request = WalkResultRequest(
            recorded_by=US, invited=invited, adopted=adopted, partner_promoting=True, support_manageable=True
        )
        assert self.p.problems_recording_walk(request) == []
        self.p.apply_walk_result(request)
        return self

    def quarter(self, rag: Rag = Rag.GREEN) -> Story:
        request = ScorecardRequest(recorded_by=US, scorecard=scorecard(rag))
        assert self.p.problems_recording_scorecard(request) == []
        self.p.apply_scorecard(request)
        return self

    def review(self) -> Story:
        self.p.open_review(self.later(30))
        return self

    def vote(self, reviewer: str, outcome: Outcome, reason: str = "") -> Story:
        request = DecisionRequest(reviewer=reviewer, outcome=outcome, reason=reason)
        assert self.p.problems_deciding(request) == []
        self.took(self.p.apply_decision(request, self.later()))
        return self

    def nobody_decides(self) -> Story:
        assert self.p.review is not None
        self.now = self.p.review.policy_at
        self.took(self.p.apply_policy_decision(self.now))
        return self

    def recommit(self) -> Story:
        for signer in (US, PARTNER):
            self.took(self.p.apply_recommitment(RecommitRequest(signer=signer, roi_model_holds=True), self.later()))
        assert self.p.phase is Phase.RUN
        return self

    @property
    def last(self) -> GateReview:
        return self.decided[-1]

    # The partnership and its reviews as the portfolio report reads them.

    def facts(self) -> PartnershipFacts:
        return PartnershipFacts(
            id=self.p.workflow_id,
            slug=self.p.charter.slug,
            partner=self.p.charter.partner.name,
            tier=int(self.p.charter.tier),
            phase=self.p.phase.value,
            step=self.p.step.value,
            started_at=self.p.started_at,
            phase_started_at=self.p.phase_started_at,
        )

    def review_facts(self) -> list[ReviewFacts]:
        reviews = [*self.decided, *([self.p.review] if self.p.review else [])]
        return [
            ReviewFacts(
                id=r.id,
                partnership_id=self.p.workflow_id,
                gate=r.gate.value,
                label=r.label,
                opened_at=r.opened_at,
                recommendation=r.evaluation.recommendation.value,
                outcome=r.decision.outcome.value if r.decision else None,
                decided_at=r.decision.decided_at if r.decision else None,
                by_policy=r.decision.by_policy if r.decision else False,
                overrides_failing_gate=r.decision.overrides_failing_gate if r.decision else False,
            )
            for r in reviews
        ]


def judged_under(review: GateReview, rule_set: RuleSet) -> Judgement:
    judged = judge("p", review, rule_set)
    assert judged is not None
    return judged


def crawl_decided_by_lee(*after: float, reason: str = "", **charter: Any) -> GateReview:
    return Story.begin("acme", **charter).pilots(*after).review().vote(REVIEWER, Outcome.GO, reason).last


# ----------------------------------------------------------------------- (a) recommendations


@pytest.mark.parametrize(("threshold", "flips"), [(20, False), (22, False), (22.1, True), (23, True)])
def test_a_crawl_at_25_and_22_percent_passes_up_to_22_and_flips_to_no_go_above(threshold: float, flips: bool) -> None:
    review = crawl_decided_by_lee(15, 15.6)
    assert review.evaluation.recommendation is Outcome.GO

    judged = judge("p", review, RuleSet(crawl_min_improvement_pct=threshold))

    assert judged is not None
    assert judged.flips is flips
    assert judged.recommendation_flips is flips
    # Every criterion was measured, so a failing Crawl recommends no-go (extend is for missing evidence).
    assert judged.recommendation is (Outcome.NO_GO if flips else Outcome.GO)
    # The go by Lee stands (the quorum is unchanged), but over a gate that now fails: an override,
    # and Lee wrote no reason.
    assert judged.decision.outcome is Outcome.GO and judged.decision.by is DecidedBy.VOTES
    assert judged.decision_flips is False
    assert judged.becomes_override is flips
    assert judged.decision.needs_reason is flips
    if flips:
        assert judged.why == [
            f"recommendation go → no-go: improvement fails: Pilot 1 +25.0 %, Pilot 2 +22.0 % "
            f"(needs ≥ {threshold:g} % for every pilot)",
            "a go over a failing gate (improvement): would need a written reason",
        ]


def test_a_go_that_becomes_an_override_needs_no_reason_when_one_is_on_record() -> None:
    review = crawl_decided_by_lee(15, 15.6, reason="the pilots asked to keep using it")

    judged = judge("p", review, RuleSet(crawl_min_improvement_pct=23))

    assert judged is not None and judged.becomes_override
    assert judged.decision.override and not judged.decision.needs_reason
    assert judged.why[-1] == "a go over a failing gate (improvement): an override, reason on record"


def test_a_walk_at_7_of_10_decided_by_policy_passes_at_70_and_restarts_crawl_at_75() -> None:
    story = Story.begin("acme").pilots(14, 14).review().vote(REVIEWER, Outcome.GO)
    review = story.walk(invited=10, adopted=7).review().nobody_decides().last
    assert review.decision is not None and review.decision.by_policy and review.decision.outcome is Outcome.GO

    assert not judged_under(review, RuleSet(walk_min_adoption_pct=70)).flips
    judged = judge("p", review, RuleSet(walk_min_adoption_pct=75))

    assert judged is not None
    # 70 % < 75 %, a Crawl restart is left: restart-crawl; policy applies it.
    assert judged.recommendation is Outcome.RESTART_CRAWL
    assert judged.decision.outcome is Outcome.RESTART_CRAWL and judged.decision.by is DecidedBy.POLICY
    assert judged.recommendation_flips and judged.decision_flips and not judged.becomes_override
    assert judged.why == [
        "recommendation go → restart-crawl: adoption fails: 7 of 10 (70.0 %) (needs ≥ 75 %)",
        "policy applies the recommendation: restart-crawl",
    ]
    # A Crawl threshold leaves a Walk gate alone.
    assert not judged_under(review, RuleSet(crawl_min_improvement_pct=90)).flips


# --------------------------------------------------------------------------- (b) quorums


@pytest.mark.parametrize("quorum", ["all", "majority", "2 of 2"])
def test_a_go_by_one_of_two_reviewers_under_any_has_no_quorum_under_a_stricter_rule(quorum: str) -> None:
    review = crawl_decided_by_lee(14, 14)  # +30 % each: the gate passes

    judged = judge("p", review, RuleSet(quorum=quorum))

    assert judged is not None
    # One go of two reviewers: not all, not more than half, not 2. Nobody else voted, so policy
    # would have decided, with the recommendation: go. Same outcome, no longer by a reviewer.
    assert judged.decision.by is DecidedBy.NO_QUORUM and judged.decision.outcome is Outcome.GO
    assert judged.decision.describe() == "no quorum: by policy → go"
    assert judged.decision_flips and not judged.recommendation_flips
    assert judged.why == [f"the votes (Lee Park go) do not reach {quorum}: policy applies the recommendation"]


def test_no_quorum_under_stricter_thresholds_leaves_policy_to_apply_the_new_recommendation() -> None:
    review = crawl_decided_by_lee(15, 15.6)

    judged = judge("p", review, RuleSet(crawl_min_improvement_pct=23, quorum="all"))

    assert judged is not None
    assert judged.decision.describe() == "no quorum: by policy → no-go"
    # Policy's no-go is no override.
    assert judged.recommendation_flips and judged.decision_flips and not judged.becomes_override


def test_two_agreeing_votes_decide_under_any_majority_or_all() -> None:
    story = Story.begin("acme", governance__quorum="all").pilots(14, 14).review()
    review = story.vote(US, Outcome.GO).vote(REVIEWER, Outcome.GO).last
    assert review.decision is not None and review.decision.decided_by_name == f"{DANA} and {LEE}"

    for quorum in ("any", "majority", "all", "2 of 2", "1 of 2"):
        judged = judge("p", review, RuleSet(quorum=quorum))
        assert judged is not None and not judged.flips, quorum
        assert judged.decision.describe() == f"go by {DANA} and {LEE}"


def test_a_go_from_our_side_only_has_no_quorum_under_one_per_side() -> None:
    story = Story.begin("acme", governance__reviewers=SIDED).pilots(14, 14).review()
    review = story.vote(US, Outcome.GO).last

    judged = judge("p", review, RuleSet(quorum="one-per-side"))

    assert judged is not None and judged.decision.by is DecidedBy.NO_QUORUM
    assert judged.quorum == "one-per-side"


def test_a_split_vote_left_to_policy_under_all_is_decided_by_the_first_vote_under_any() -> None:
    # Under "all", Dana votes no-go and Lee go: no outcome has both, and policy decides go.
    story = Story.begin("acme", governance__quorum="all").pilots(14, 14).review()
    review = story.vote(US, Outcome.NO_GO).vote(REVIEWER, Outcome.GO).nobody_decides().last
    assert review.decision is not None and review.decision.by_policy and review.decision.outcome is Outcome.GO

    # Under "any" the first vote cast counts as much as the second: one each, and `reached`
    # picks the earlier-cast outcome. Dana's no-go would have ended it.
    judged = judge("p", review, RuleSet(quorum="any"))
    assert judged is not None
    assert judged.decision.describe() == f"no-go by {DANA}"
    assert judged.decision_flips and judged.why == [f"the votes ({DANA} no-go, {LEE} go) reach any: no policy decision"]
    # Under majority (2 of 2 needed) neither has it: still policy, still go. No flip.
    assert not judged_under(review, RuleSet(quorum="majority")).flips


def test_a_policy_decision_without_votes_stays_policy_with_the_new_recommendation() -> None:
    review = Story.begin("acme").pilots(15, 15.6).review().nobody_decides().last

    for quorum in ("any", "all", "majority"):
        judged = judge("p", review, RuleSet(quorum=quorum))
        assert judged is not None and not judged.flips
        assert judged.decision.by is DecidedBy.POLICY

    judged = judge("p", review, RuleSet(crawl_min_improvement_pct=23, quorum="all"))
    assert judged is not None
    assert judged.decision.describe() == "no-go by policy"
    assert judged.recommendation_flips and judged.decision_flips


@pytest.mark.parametrize(
    ("quorum", "charter", "note"),
    [
        ("2 of 3", {}, "kept its recorded quorum (any): 2 of 3 names 3 reviewers, but there are 2"),
        (
            "one-per-side",
            {},
            "kept its recorded quorum (any): one-per-side needs every reviewer's side "
            "(missing for dana@ourco.example, lee@ourco.example)",
        ),
    ],
)
def test_a_quorum_the_reviewers_cannot_satisfy_keeps_the_recorded_one_with_a_note(
    quorum: str, charter: dict[str, Any], note: str
) -> None:
    review = crawl_decided_by_lee(14, 14, **charter)

    judged = judge("p", review, RuleSet(quorum=quorum))

    assert judged is not None and not judged.flips
    assert judged.notes == [note]
    assert judged.quorum == "any"


# ------------------------------------------------------------------------ the record itself


def test_nothing_flips_under_the_rules_on_record() -> None:
    reviews = [
        crawl_decided_by_lee(15, 15.6),
        crawl_decided_by_lee(15, 15.6, reason="the pilots asked to keep using it"),
        Story.begin("acme").pilots(15, 25).review().nobody_decides().last,
        Story.begin("acme")
        .pilots(14, 14)
        .review()
        .vote(REVIEWER, Outcome.GO)
        .walk(10, 7)
        .review()
        .nobody_decides()
        .last,
    ]
    for rule_set in (RuleSet(), RuleSet(crawl_min_improvement_pct=20, walk_min_adoption_pct=70, quorum="any")):
        for review in reviews:
            judged = judge("p", review, rule_set)
            assert judged is not None and not judged.flips and judged.why == [], (rule_set, review.label)


def test_an_open_review_or_one_without_its_basis_is_not_judged() -> None:
    story = Story.begin("acme").pilots(14, 14).review()
    assert story.p.review is not None
    assert judge("p", story.p.review, RuleSet(quorum="all")) is None
    decided = story.vote(REVIEWER, Outcome.GO).last
    older = decided.model_copy(update={"basis": None})

    result = what_if([("p", older), ("p", decided)], RuleSet(quorum="all"), partnerships=[], reviews=[], tasks=[])

    assert result.skipped == 1 and [j.review_id for j in result.judgements] == [decided.id]


def test_rule_set_problems_name_each_rule() -> None:
    assert RuleSet(crawl_min_improvement_pct=1000, walk_min_adoption_pct=0, quorum="2 of 3").problems() == []
    assert RuleSet(crawl_min_improvement_pct=-1, walk_min_adoption_pct=150, quorum="5 of 2").problems() == [
        ("crawl_min_improvement_pct", "-1 is not a percentage from 0 to 1000"),
        ("walk_min_adoption_pct", "150 is not a percentage from 0 to 100"),
        ("quorum", "'5 of 2': N of M needs 1 ≤ N ≤ M"),
    ]


# ------------------------------------------------------------------------------- the funnel


def test_the_funnel_under_new_rules_stops_a_partnership_at_a_gate_that_would_be_no_go() -> None:
    # alpha: Crawl +25/+22 go by Lee, Walk 8 of 10 go by Lee, in Run with one QBR go.
    alpha = Story.begin("alpha").pilots(15, 15.6).review().vote(REVIEWER, Outcome.GO)
    alpha.walk(10, 8).review().vote(REVIEWER, Outcome.GO).recommit()
    alpha.quarter().review().vote(REVIEWER, Outcome.GO)
    # beta: Crawl +30/+30 go by Lee, Walk 7 of 10 go by Lee, in Run.
    beta = Story.begin("beta").pilots(14, 14).review().vote(REVIEWER, Outcome.GO)
    beta.walk(10, 7).review().vote(REVIEWER, Outcome.GO).recommit()
    # gamma: Crawl +25/+22 decided go by policy, Walk 9 of 10 go by Lee, in Run with a QBR open.
    gamma = Story.begin("gamma").pilots(15, 15.6).review().nobody_decides()
    gamma.walk(10, 9).review().vote(REVIEWER, Outcome.GO).recommit()
    gamma.quarter().review()
    assert gamma.p.step is Step.GATE_REVIEW
    stories = [alpha, beta, gamma]
    partnerships = [s.facts() for s in stories]
    reviews = [r for s in stories for r in s.review_facts()]
    tasks = [t for s in stories for t in s.tasks]
    decided = [(s.p.workflow_id, r) for s in stories for r in s.decided]

    result = what_if(
        decided,
        RuleSet(crawl_min_improvement_pct=23, walk_min_adoption_pct=75),
        partnerships=partnerships,
        reviews=reviews,
        tasks=tasks,
    )

    # alpha's Crawl go becomes an override; beta's Walk go becomes one (70 % < 75 %: restart-crawl
    # recommended); gamma's Crawl, decided by policy, becomes a no-go and its story ends there.
    flipped = {(j.partnership_id.removeprefix("partnership-"), j.gate): j for j in result.flips}
    assert set(flipped) == {("alpha", Gate.CRAWL), ("beta", Gate.WALK), ("gamma", Gate.CRAWL)}
    assert flipped["alpha", Gate.CRAWL].decision.describe() == f"go (override) by {LEE}"
    assert flipped["beta", Gate.WALK].recommendation is Outcome.RESTART_CRAWL
    assert flipped["beta", Gate.WALK].decision.describe() == f"go (override) by {LEE}"
    assert flipped["gamma", Gate.CRAWL].decision.describe() == "no-go by policy"

    def figures(funnel: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (
                s.gate,
                s.entered,
                s.passed,
                s.overrides,
                s.attempts.passes,
                s.attempts.attempts,
                s.attempts.by_policy,
                s.attempts.open,
            )
            for s in funnel
        ]

    # As recorded: 3 entered and passed each gate; QBRs: alpha's go, gamma's open.
    assert figures(result.recorded_funnel) == [
        ("crawl", 3, 3, 0, 3, 3, 1, 0),
        ("walk", 3, 3, 0, 3, 3, 0, 0),
        ("run", 3, None, 0, 1, 1, 0, 1),
    ]
    assert figures(result.recorded_funnel) == figures(recorded_funnel(partnerships, reviews, tasks))
    # Under the new rules gamma stops at Crawl (its Walk attempt and open QBR drop out, and it
    # never enters Walk or Run); alpha passes Crawl by override, beta Walk by override.
    assert figures(result.funnel) == [
        ("crawl", 3, 2, 1, 2, 3, 1, 0),
        ("walk", 2, 2, 1, 2, 2, 0, 0),
        ("run", 2, None, 0, 1, 1, 0, 0),
    ]
    # Nothing judged, nothing changed.
    assert figures(funnel_under(partnerships, reviews, tasks, [])) == figures(result.recorded_funnel)
