"""What if the gates had other rules: every decided review judged again, and nothing changed.

`partnerships what-if` takes the gate reviews on record and judges each one again with the
same pure functions the workflow used (`partnerships.domain.gates`, `partnerships.domain.quorum`),
on the same evidence and against the same basis (`GateBasis`: the charter's terms, whether
the phase could still be extended, Crawl restarts left, earlier RAGs, unmet conditions,
the reviewers), with only the rules a `RuleSet` names replaced. It reads; it never decides.

A review **would flip** when at least one of these holds:

(a) **Its recommendation flips**: the gate's recommendation under the new thresholds is not
    the one on record (a Crawl with pilots at +25 % and +22 % recommends go at 20 % and
    no-go, or extend, at 23 %).
(b) **Its decision flips**: under the new quorum the votes on record reach a different
    outcome, or none — then nobody decided in time and policy would have applied the
    recommendation under the new rules ("no quorum: by policy → no-go") — or a review that
    policy decided now has votes on record that reach the new quorum. A review decided by
    policy with no such votes stays decided by policy, with the new recommendation.
(c) **A go becomes an override**: a go that was not an override is a go over a gate that
    now fails. The workflow accepts such a go only with a written reason
    (`rules.MIN_OVERRIDE_REASON_CHARS` characters or more): flagged as *would need a written
    reason* unless a go vote on record already carries one.

The votes on record are the reviewers' current votes when the review was decided. They are
counted by `quorum.reached` as they stood, in the order they were cast; the decision is not
replayed vote by vote, so under a looser rule the outcome with the most agreeing votes wins
(on a tie, the earlier-cast). Under a stricter rule nobody can say which further votes would
have come: the review would have had no quorum, so policy decides it. A go vote counts as
cast even where the gate now fails; (c) flags it. Without a new quorum a decision by votes
stands as recorded (its recommendation may still flip, and (c) may apply); a decision by
policy applies the new recommendation.

A quorum the review's reviewers cannot satisfy as written (N of M with M other than the
number of reviewers, one-per-side without both sides among them) is one their charter would
refuse: such a review keeps its recorded quorum, with a note saying why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from annotated_types import Ge, Le

from partnerships.domain import rules
from partnerships.domain.charter import GateThresholds
from partnerships.domain.gates import (
    ConditionState,
    CrawlEvidence,
    GateBasis,
    GateEvaluation,
    WalkEvidence,
    evaluate_crawl,
    evaluate_walk,
    with_conditions,
)
from partnerships.domain.lifecycle import Decision, GateReview, Vote
from partnerships.domain.portfolio import (
    FunnelStage,
    PartnershipFacts,
    PhasePeriod,
    ReviewFacts,
    TaskFacts,
    funnel,
    phase_periods,
)
from partnerships.domain.quorum import Ballot, Quorum, Voter, reached
from partnerships.domain.text import visible_length
from partnerships.domain.vocabulary import Gate, Outcome, Side

# ----------------------------------------------------------------------------- the rules


def threshold_bounds(name: str) -> tuple[float, float]:
    """The range a charter may set a threshold in (`GateThresholds`): what-if accepts the same."""
    metadata = GateThresholds.model_fields[name].metadata
    low = next(m.ge for m in metadata if isinstance(m, Ge))
    high = next(m.le for m in metadata if isinstance(m, Le))
    return float(low), float(high)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RuleSet:
    """Rules to judge the record under; None keeps each review's own, as recorded.

    Each applies to every review it concerns: the Crawl threshold to Crawl gates, the Walk
    threshold to Walk gates, the quorum to every gate.
    """

    crawl_min_improvement_pct: float | None = None
    walk_min_adoption_pct: float | None = None
    quorum: str | None = None

    def problems(self) -> list[tuple[str, str]]:
        """(field, problem) for each rule that is not one a charter could hold; empty when all are."""
        found = []
        for name in ("crawl_min_improvement_pct", "walk_min_adoption_pct"):
            value = getattr(self, name)
            low, high = threshold_bounds(name)
            if value is not None and not low <= value <= high:
                found.append((name, f"{value:g} is not a percentage from {low:g} to {high:g}"))
        if self.quorum is not None:
            try:
                Quorum.parse(self.quorum)
            except ValueError as error:
                found.append(("quorum", str(error)))
        return found

    def basis_under(self, basis: GateBasis) -> GateBasis:
        """The review's basis with this rule set's thresholds in place of the recorded ones."""
        changes = {
            name: value
            for name in ("crawl_min_improvement_pct", "walk_min_adoption_pct")
            if (value := getattr(self, name)) is not None
        }
        return basis.model_copy(update={"rules": basis.rules.model_copy(update=changes)})


# ------------------------------------------------------------------------- one review


class DecidedBy(StrEnum):
    VOTES = "votes"
    POLICY = "policy"
    # Decided by votes as recorded, but they do not reach the new quorum: policy would decide.
    NO_QUORUM = "no quorum"


@dataclass(frozen=True)
class Verdict:
    """How a review was (or would be) decided."""

    outcome: Outcome
    by: DecidedBy
    # Who agreed on the outcome ("Lee Park", "Dana Reyes and Lee Park"); empty for policy.
    names: str = ""
    # A go over a gate that fails.
    override: bool = False
    # An override no go vote on record gives a written reason for (flip (c)).
    needs_reason: bool = False

    @property
    def by_policy(self) -> bool:
        return self.by is not DecidedBy.VOTES

    def describe(self) -> str:
        """`go by Lee Park`, `go (override) by Lee Park`, `no-go by policy`, `no quorum: by policy → extend`."""
        outcome = self.outcome.value + (" (override)" if self.override else "")
        if self.by is DecidedBy.NO_QUORUM:
            return f"no quorum: by policy → {outcome}"
        return f"{outcome} by {'policy' if self.by is DecidedBy.POLICY else self.names}"


@dataclass(frozen=True)
class Judgement:
    """One decided review: as recorded, and as it would be under the rule set."""

    partnership_id: str
    review_id: str
    gate: Gate
    label: str
    decided_at: datetime
    recorded_quorum: str
    quorum: str
    recorded_recommendation: Outcome
    recommendation: Outcome
    recorded: Verdict
    decision: Verdict
    evaluation: GateEvaluation
    # Why it flips, one short sentence per cause; empty when it does not.
    why: list[str] = field(default_factory=list)
    # Something the reader should know that is not a flip (a quorum that does not fit).
    notes: list[str] = field(default_factory=list)
    # Why the rule set's quorum does not fit this review's reviewers (it kept its own), or None.
    misfit: str | None = None

    @property
    def recommendation_flips(self) -> bool:
        """(a): the recommendation under the new rules is not the recorded one."""
        return self.recommendation is not self.recorded_recommendation

    @property
    def decision_flips(self) -> bool:
        """(b): another outcome, or the same one reached another way (votes ↔ policy)."""
        return self.decision.outcome is not self.recorded.outcome or self.decision.by_policy != self.recorded.by_policy

    @property
    def becomes_override(self) -> bool:
        """(c): a go that was not an override is a go over a gate that now fails."""
        return self.decision.override and not self.recorded.override

    @property
    def flips(self) -> bool:
        return self.recommendation_flips or self.decision_flips or self.becomes_override


def evaluate_under(review: GateReview, basis: GateBasis) -> GateEvaluation:
    """The review's gate on its recorded evidence against `basis`: the workflow's own evaluation.

    The evidence was dumped as JSON, so it is read back as JSON (where an enum is its text)."""
    if review.gate is Gate.CRAWL:
        crawl = CrawlEvidence.model_validate_json(json.dumps(review.evidence))
        evaluation = evaluate_crawl(crawl, basis.rules, can_extend=basis.can_extend)
    elif review.gate is Gate.WALK:
        walk = WalkEvidence.model_validate_json(json.dumps(review.evidence))
        evaluation = evaluate_walk(
            walk, basis.rules, can_extend=basis.can_extend, crawl_restarts_left=basis.crawl_restarts_left
        )
    else:
        # No what-if rule touches a QBR (its thresholds are the charter's exit criteria): as judged.
        return review.evaluation
    unmet = [ConditionState(title=title, met=False) for title in basis.unmet_conditions]
    return with_conditions(evaluation, unmet, crawl_restarts_left=basis.crawl_restarts_left)


def voters_of(basis: GateBasis) -> list[Voter]:
    return [Voter(email, Side(side) if side else None) for email, side in basis.voters]


def _names(votes: Iterable[Vote]) -> str:
    return " and ".join(v.name for v in votes)


def _recorded_verdict(decision: Decision) -> Verdict:
    return Verdict(
        outcome=decision.outcome,
        by=DecidedBy.POLICY if decision.by_policy else DecidedBy.VOTES,
        names="" if decision.by_policy else decision.decided_by_name,
        override=decision.overrides_failing_gate,
    )


def _with_override(verdict: Verdict, evaluation: GateEvaluation, votes: Sequence[Vote]) -> Verdict:
    override = verdict.outcome is Outcome.GO and not evaluation.passed
    reasoned = any(
        v.outcome is Outcome.GO and visible_length(v.reason) >= rules.MIN_OVERRIDE_REASON_CHARS for v in votes
    )
    return replace(verdict, override=override, needs_reason=override and not reasoned)


def judge(partnership_id: str, review: GateReview, rule_set: RuleSet) -> Judgement | None:
    """The review judged again under `rule_set`; None when it is undecided or has no basis on record."""
    decision, basis = review.decision, review.basis
    if decision is None or basis is None:
        return None
    evaluation = evaluate_under(review, rule_set.basis_under(basis))
    recommendation = evaluation.recommendation
    votes = sorted(decision.votes, key=lambda v: v.cast_at)
    voters = voters_of(basis)
    recorded = _recorded_verdict(decision)
    notes: list[str] = []

    new_quorum: Quorum | None = None
    misfit = None
    if rule_set.quorum is not None:
        asked = Quorum.parse(rule_set.quorum)
        misfit = asked.misfit(voters)
        if misfit is None:
            new_quorum = asked
        else:
            notes.append(f"kept its recorded quorum ({decision.quorum}): {misfit}")

    policy = Verdict(outcome=recommendation, by=DecidedBy.POLICY)
    if new_quorum is None:
        # The quorum on record: the votes reached it, or did not, as recorded.
        verdict = policy if decision.by_policy else replace(recorded, override=False)
    else:
        outcome = reached(new_quorum, voters, [Ballot(v.reviewer, v.outcome) for v in votes])
        if outcome is not None:
            names = _names(v for v in votes if v.outcome is outcome)
            verdict = Verdict(outcome=outcome, by=DecidedBy.VOTES, names=names)
        elif decision.by_policy:
            verdict = policy
        else:
            verdict = replace(policy, by=DecidedBy.NO_QUORUM)
    verdict = _with_override(verdict, evaluation, votes)

    judgement = Judgement(
        partnership_id=partnership_id,
        review_id=review.id,
        gate=review.gate,
        label=review.label,
        decided_at=decision.decided_at,
        recorded_quorum=decision.quorum,
        quorum=decision.quorum if new_quorum is None else str(new_quorum),
        recorded_recommendation=review.evaluation.recommendation,
        recommendation=recommendation,
        recorded=recorded,
        decision=verdict,
        evaluation=evaluation,
        notes=notes,
        misfit=misfit,
    )
    return replace(judgement, why=_why(judgement, review.evaluation, votes))


def _why(judgement: Judgement, recorded: GateEvaluation, votes: Sequence[Vote]) -> list[str]:
    why = []
    if judgement.recommendation_flips:
        before = {c.key: c.passed for c in recorded.criteria}
        changed = [c for c in judgement.evaluation.criteria if before.get(c.key, c.passed) != c.passed]
        causes = "; ".join(
            f"{c.key} {'passes' if c.passed else 'fails'}: {c.measured or 'not recorded'} (needs {c.threshold})"
            for c in changed
        )
        why.append(
            f"recommendation {judgement.recorded_recommendation.value} → {judgement.recommendation.value}"
            + (f": {causes}" if causes else "")
        )
    if judgement.decision_flips:
        decision = judgement.decision
        cast = ", ".join(f"{v.name} {v.outcome.value}" for v in votes) or "no votes"
        if decision.by is DecidedBy.NO_QUORUM:
            why.append(f"the votes ({cast}) do not reach {judgement.quorum}: policy applies the recommendation")
        elif decision.by is DecidedBy.VOTES and judgement.recorded.by_policy:
            why.append(f"the votes ({cast}) reach {judgement.quorum}: no policy decision")
        elif decision.by is DecidedBy.VOTES:
            why.append(f"the votes ({cast}) reach {decision.outcome.value} under {judgement.quorum}")
        else:
            why.append(f"policy applies the recommendation: {decision.outcome.value}")
    if judgement.becomes_override:
        failing = ", ".join(c.key for c in judgement.evaluation.failing)
        why.append(
            f"a go over a failing gate ({failing}): "
            + ("would need a written reason" if judgement.decision.needs_reason else "an override, reason on record")
        )
    return why


# --------------------------------------------------------------------------- the funnel


def _histories(
    partnerships: Sequence[PartnershipFacts], reviews: Iterable[ReviewFacts], tasks: Iterable[TaskFacts]
) -> list[tuple[PartnershipFacts, list[ReviewFacts], list[PhasePeriod]]]:
    own_reviews: dict[str, list[ReviewFacts]] = {}
    own_tasks: dict[str, list[TaskFacts]] = {}
    for review in reviews:
        own_reviews.setdefault(review.partnership_id, []).append(review)
    for task in tasks:
        own_tasks.setdefault(task.partnership_id, []).append(task)
    histories = []
    for partnership in sorted(partnerships, key=lambda p: p.slug):
        mine = sorted(own_reviews.get(partnership.id, []), key=lambda r: r.opened_at)
        histories.append((partnership, mine, phase_periods(partnership, mine, own_tasks.get(partnership.id, []))))
    return histories


def recorded_funnel(
    partnerships: Sequence[PartnershipFacts], reviews: Sequence[ReviewFacts], tasks: Sequence[TaskFacts]
) -> list[FunnelStage]:
    """The portfolio funnel as the report states it (`portfolio.funnel`)."""
    return funnel(_histories(partnerships, reviews, tasks))


def funnel_under(
    partnerships: Sequence[PartnershipFacts],
    reviews: Sequence[ReviewFacts],
    tasks: Sequence[TaskFacts],
    judgements: Sequence[Judgement],
) -> list[FunnelStage]:
    """The portfolio funnel with each judged review's outcome replaced by its outcome under the rules.

    Counted by `portfolio.funnel`, with the same definitions as the report. Reviews not judged
    (still open, before `--since`, or without a full record) keep their recorded outcome. A
    review whose outcome would be no-go where it was not ends its partnership there: the
    reviews opened and the tasks created after that decision drop out, so the phases they
    entered are not entered. Any other change replaces only that attempt's outcome and what
    followed stays as recorded (what would have happened instead is not on record); a no-go
    that would be a go enters the next phase (Walk, or re-commitment for Run) and no further.
    """
    by_id = {j.review_id: j for j in judgements}
    changed = []
    for review in reviews:
        judged = by_id.get(review.id)
        if judged is None:
            changed.append(review)
            continue
        changed.append(
            replace(
                review,
                recommendation=judged.recommendation.value,
                outcome=judged.decision.outcome.value,
                by_policy=judged.decision.by_policy,
                overrides_failing_gate=judged.decision.override,
            )
        )
    ends: dict[str, datetime] = {}
    for judged in sorted(judgements, key=lambda j: j.decided_at):
        ended = judged.decision.outcome is Outcome.NO_GO and judged.recorded.outcome is not Outcome.NO_GO
        if ended and judged.partnership_id not in ends:
            ends[judged.partnership_id] = judged.decided_at
    kept_reviews = [r for r in changed if r.partnership_id not in ends or r.opened_at <= ends[r.partnership_id]]
    kept_tasks = [t for t in tasks if t.partnership_id not in ends or t.created_at < ends[t.partnership_id]]
    return funnel(_histories(partnerships, kept_reviews, kept_tasks))


# -------------------------------------------------------------------------- everything


@dataclass(frozen=True)
class WhatIf:
    rule_set: RuleSet
    # Every decided review judged, by decision time.
    judgements: list[Judgement]
    recorded_funnel: list[FunnelStage]
    funnel: list[FunnelStage]
    # Decided reviews in scope that could not be judged: no basis on record (an older release).
    skipped: int = 0

    @property
    def flips(self) -> list[Judgement]:
        return [j for j in self.judgements if j.flips]


def what_if(
    decided: Iterable[tuple[str, GateReview]],
    rule_set: RuleSet,
    *,
    partnerships: Sequence[PartnershipFacts],
    reviews: Sequence[ReviewFacts],
    tasks: Sequence[TaskFacts],
) -> WhatIf:
    """Judge each decided review (partnership id, review) again, and the portfolio funnel with them.

    `partnerships`, `reviews` and `tasks` are the whole record as the report reads it: the
    funnels count every partnership, with only the judged reviews' outcomes replaced.
    """
    judgements, skipped = [], 0
    for partnership_id, review in decided:
        judged = judge(partnership_id, review, rule_set)
        if judged is None:
            skipped += review.decision is not None
        else:
            judgements.append(judged)
    judgements.sort(key=lambda j: (j.decided_at, j.review_id))
    return WhatIf(
        rule_set=rule_set,
        judgements=judgements,
        recorded_funnel=recorded_funnel(partnerships, reviews, tasks),
        funnel=funnel_under(partnerships, reviews, tasks, judgements),
        skipped=skipped,
    )
