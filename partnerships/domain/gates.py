"""Go/no-go gates: evidence in, pass/fail per criterion and a recommendation out.

Evaluation is a pure function of the recorded evidence and the charter's
thresholds, so the same evidence always gives the same answer, in the workflow,
in the CLI and in tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from partnerships.domain import rules
from partnerships.domain.charter import Charter, Direction, ExitRule
from partnerships.domain.lean import Lean
from partnerships.domain.text import Name, Reason
from partnerships.domain.vocabulary import Gate, Outcome, Rag

ALLOWED_OUTCOMES: dict[Gate, tuple[Outcome, ...]] = {
    Gate.CRAWL: (Outcome.GO, Outcome.NO_GO, Outcome.EXTEND, Outcome.HOLD),
    Gate.WALK: (Outcome.GO, Outcome.NO_GO, Outcome.RESTART_CRAWL, Outcome.EXTEND, Outcome.HOLD),
    Gate.QBR: (Outcome.GO, Outcome.NO_GO, Outcome.REVALIDATE, Outcome.HOLD),
}


class GateRules(Lean):
    """The charter's terms a gate is judged by: its thresholds and its stated metric."""

    crawl_min_improvement_pct: float
    walk_min_adoption_pct: float
    metric: str
    direction: Direction

    @classmethod
    def of(cls, charter: Charter) -> GateRules:
        return cls(
            crawl_min_improvement_pct=charter.gates.crawl_min_improvement_pct,
            walk_min_adoption_pct=charter.gates.walk_min_adoption_pct,
            metric=charter.measurement.metric.name,
            direction=charter.measurement.metric.direction,
        )


class ConditionState(Lean):
    """A condition of the previous go as the next gate sees it."""

    title: str
    met: bool


class Evidence(Lean):
    # Strict: a person's "yes" or 1 is not a boolean, "5" is not a number.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


Customer = Name
Measure = Annotated[float, Field(ge=0, le=1e12)]


class PilotResult(Evidence):
    """One pilot customer's experience of the stated metric during Crawl."""

    customer: Customer
    metric_before: Measure
    metric_after: Measure
    would_recommend: bool

    @model_validator(mode="after")
    def _baseline_is_measurable(self) -> PilotResult:
        if self.metric_before == 0:
            raise ValueError("metric_before must be above 0 to measure an improvement against it")
        return self

    def improvement_pct(self, direction: Direction) -> Decimal:
        # Decimal on the typed-in values: 10 -> 8 must be exactly 20 %, not 19.999…
        before = Decimal(str(self.metric_before))
        after = Decimal(str(self.metric_after))
        change = after - before if direction is Direction.HIGHER_IS_BETTER else before - after
        return change / before * 100


class CrawlEvidence(Evidence):
    pilots: list[PilotResult] = Field(default_factory=list)
    integration_can_scale: bool | None = None


class WalkEvidence(Evidence):
    invited: Annotated[int, Field(ge=0, le=100_000)] | None = None
    adopted: Annotated[int, Field(ge=0, le=100_000)] | None = None
    partner_promoting: bool | None = None
    support_manageable: bool | None = None


Money = Annotated[float, Field(ge=0, le=1e13)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Percent = Annotated[float, Field(ge=0, le=100)]


class Scorecard(Evidence):
    """One quarter of a partnership in Run (DOMAIN.md §4)."""

    deals_sourced: Count
    pipeline_sourced: Money
    revenue_closed: Money
    win_rate_pct: Percent
    average_deal_size: Money
    active_engagements: Count
    certifications_completed: Count
    customer_satisfaction: Annotated[float, Field(ge=0, le=10)]
    integration_rate_pct: Percent | None = None
    time_to_value_days: Annotated[float, Field(ge=0, le=3650)] | None = None
    rag: Rag
    notes: Reason = ""
    metric_value: Measure | None = Field(
        None, description="The stated metric this quarter: what `metric_worse_than` exit rules check."
    )


class QuarterFacts(Lean):
    """What structured exit criteria look back on: one quarter of Run, as its QBR saw it."""

    quarter: int
    rag: Rag
    metric_value: float | None = None
    revenue_closed: float
    adoption_pct: float | None = None

    @classmethod
    def of(cls, quarter: int, scorecard: Scorecard) -> QuarterFacts:
        return cls(
            quarter=quarter,
            rag=scorecard.rag,
            metric_value=scorecard.metric_value,
            revenue_closed=scorecard.revenue_closed,
            adoption_pct=scorecard.integration_rate_pct,
        )


class GateBasis(Lean):
    """Everything a gate review was judged against besides its evidence, kept with the review."""

    rules: GateRules
    can_extend: bool
    crawl_restarts_left: int
    previous_rags: list[Rag] = Field(default_factory=list)
    earlier_quarters: list[QuarterFacts] = Field(default_factory=list)
    quorum: str = "any"
    # Each reviewer's email and side ("us", "partner" or "").
    voters: list[tuple[str, str]] = Field(default_factory=list)
    unmet_conditions: list[str] = Field(default_factory=list)


class Criterion(Lean):
    key: str
    question: str
    measured: str | None
    threshold: str
    passed: bool


class GateEvaluation(Lean):
    gate: Gate
    criteria: list[Criterion]
    recommendation: Outcome
    rationale: str

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    @property
    def failing(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.passed]


def _pct(value: Decimal) -> str:
    return f"{float(value):g}"


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _rules(terms: Charter | GateRules) -> GateRules:
    return GateRules.of(terms) if isinstance(terms, Charter) else terms


def evaluate_crawl(evidence: CrawlEvidence, terms: Charter | GateRules, *, can_extend: bool) -> GateEvaluation:
    """Crawl passes when every pilot saw the improvement, would recommend it, and it can scale."""
    gate_rules = _rules(terms)
    threshold = Decimal(str(gate_rules.crawl_min_improvement_pct))
    direction = gate_rules.direction
    pilots = evidence.pilots
    improvements = [p.improvement_pct(direction) for p in pilots]
    worst = min(improvements) if improvements else None
    criteria = [
        Criterion(
            key="improvement",
            question=f"Did every pilot see ≥ {_pct(threshold)} % improvement in "
            f"{gate_rules.metric} ({direction.value})?",
            measured=None
            if worst is None
            else ", ".join(f"{p.customer} {i:+.1f} %" for p, i in zip(pilots, improvements, strict=True)),
            threshold=f"≥ {_pct(threshold)} % for every pilot",
            passed=worst is not None and worst >= threshold,
        ),
        Criterion(
            key="would_recommend",
            question="Would the pilots recommend it to their peers?",
            measured=None if not pilots else f"{sum(p.would_recommend for p in pilots)} of {len(pilots)} would",
            threshold="every pilot",
            passed=bool(pilots) and all(p.would_recommend for p in pilots),
        ),
        Criterion(
            key="can_scale",
            question="Can the integration scale?",
            measured=_yes_no(evidence.integration_can_scale),
            threshold="yes",
            passed=evidence.integration_can_scale is True,
        ),
    ]
    missing = [c for c in criteria if c.measured is None]
    if all(c.passed for c in criteria):
        return GateEvaluation(
            gate=Gate.CRAWL,
            criteria=criteria,
            recommendation=Outcome.GO,
            rationale="every Crawl criterion passed: advance to Walk",
        )
    if missing and can_extend:
        return GateEvaluation(
            gate=Gate.CRAWL,
            criteria=criteria,
            recommendation=Outcome.EXTEND,
            rationale="evidence is missing for " + ", ".join(c.key for c in missing) + ": extend Crawl to measure it",
        )
    return GateEvaluation(
        gate=Gate.CRAWL,
        criteria=criteria,
        recommendation=Outcome.NO_GO,
        rationale="Crawl failed "
        + ", ".join(c.key for c in criteria if not c.passed)
        + ": end it now, while failing is cheap, and record what was learned",
    )


def adoption_pct(evidence: WalkEvidence) -> Decimal | None:
    if not evidence.invited or evidence.adopted is None:
        return None
    return Decimal(evidence.adopted) / Decimal(evidence.invited) * 100


def evaluate_walk(
    evidence: WalkEvidence, terms: Charter | GateRules, *, can_extend: bool, crawl_restarts_left: int
) -> GateEvaluation:
    """Walk passes when enough invited customers adopted, the partner promotes, support copes."""
    threshold = Decimal(str(_rules(terms).walk_min_adoption_pct))
    adoption = adoption_pct(evidence)
    scope = rules.WALK_INVITED_CUSTOMERS
    criteria = [
        Criterion(
            key="invited",
            question=f"Were at least {scope.low} customers invited?",
            measured=None if evidence.invited is None else str(evidence.invited),
            threshold=f"≥ {scope.low}",
            passed=evidence.invited is not None and evidence.invited >= scope.low,
        ),
        Criterion(
            key="adoption",
            question=f"Did ≥ {_pct(threshold)} % of invited customers adopt?",
            measured=None if adoption is None else f"{evidence.adopted} of {evidence.invited} ({adoption:.1f} %)",
            threshold=f"≥ {_pct(threshold)} %",
            passed=adoption is not None and adoption >= threshold,
        ),
        Criterion(
            key="partner_promoting",
            question="Is the partner actively promoting it?",
            measured=_yes_no(evidence.partner_promoting),
            threshold="yes",
            passed=evidence.partner_promoting is True,
        ),
        Criterion(
            key="support_manageable",
            question="Is the support burden manageable?",
            measured=_yes_no(evidence.support_manageable),
            threshold="yes",
            passed=evidence.support_manageable is True,
        ),
    ]
    missing = [c for c in criteria if c.measured is None]
    failed = ", ".join(c.key for c in criteria if not c.passed)
    if all(c.passed for c in criteria):
        recommendation, rationale = (
            Outcome.GO,
            "every Walk criterion passed: re-commit and enter Run",
        )
    elif missing and can_extend:
        recommendation = Outcome.EXTEND
        rationale = "evidence is missing for " + ", ".join(c.key for c in missing) + ": extend Walk"
    elif crawl_restarts_left > 0:
        recommendation = Outcome.RESTART_CRAWL
        rationale = f"Walk failed {failed}: restart Crawl with recorded changes, or end it"
    else:
        recommendation = Outcome.NO_GO
        rationale = f"Walk failed {failed} after a Crawl restart: end it"
    return GateEvaluation(gate=Gate.WALK, criteria=criteria, recommendation=recommendation, rationale=rationale)


def _missed(rule: ExitRule, quarter: QuarterFacts, direction: Direction) -> bool | None:
    """Whether a quarter missed the rule's bound (None: the quarter did not record what it checks)."""
    if rule.red_quarters is not None:
        return quarter.rag is Rag.RED
    if rule.metric_worse_than is not None:
        if quarter.metric_value is None:
            return None
        if direction is Direction.LOWER_IS_BETTER:
            return quarter.metric_value > rule.metric_worse_than
        return quarter.metric_value < rule.metric_worse_than
    if rule.revenue_below is not None:
        return quarter.revenue_closed < rule.revenue_below
    assert rule.adoption_below_pct is not None
    return None if quarter.adoption_pct is None else quarter.adoption_pct < rule.adoption_below_pct


def _quarters_running(rule: ExitRule, quarters: list[QuarterFacts], direction: Direction) -> int:
    running = 0
    for quarter in reversed(quarters):
        if not _missed(rule, quarter, direction):
            break
        running += 1
    return running


def _exit_checks(
    criteria_text: list[str | ExitRule], quarters: list[QuarterFacts], terms: GateRules | None
) -> tuple[list[Criterion], list[str], list[str]]:
    """The charter's exit criteria at a QBR: a criterion each, the rules met, and the bounds missed
    for fewer quarters than their rule allows (those call for a re-validation first)."""
    criteria, met, missing = [], [], []
    direction = terms.direction if terms else Direction.HIGHER_IS_BETTER
    metric = terms.metric if terms else "the metric"
    for number, item in enumerate(criteria_text, start=1):
        if isinstance(item, str):
            criteria.append(
                Criterion(
                    key=f"exit-{number}",
                    question=f"Exit criterion (the reviewers judge): {item}",
                    measured="for the reviewers to tick",
                    threshold="not met",
                    passed=True,
                )
            )
            continue
        described = item.describe(metric, direction)
        running = _quarters_running(item, quarters, direction)
        needed = item.quarters_running
        if running >= needed:
            met.append(described)
        elif running:
            missing.append(described)
        # A bound missed at all fails the checklist: going on regardless is an override, with a reason.
        criteria.append(
            Criterion(
                key=f"exit-{number}",
                question=f"Clear of the exit criterion: {described}?",
                measured=f"missed {running} of {needed} quarter(s) running",
                threshold="not missed this quarter",
                passed=running == 0,
            )
        )
    return criteria, met, missing


def evaluate_qbr(
    scorecard: Scorecard | None,
    previous_rags: list[Rag],
    *,
    exit_criteria: list[str | ExitRule] | None = None,
    earlier: list[QuarterFacts] | None = None,
    terms: GateRules | None = None,
    quarter: int = 0,
) -> GateEvaluation:
    """A quarter in Run passes when it was measured, has not been red for too long and meets no
    exit criterion; sustained amber, or a bound missed for fewer quarters than allowed, calls
    for a re-validation before anyone decides to exit."""
    streak = rules.RED_QUARTERS_BEFORE_EXIT
    recent = [*previous_rags[-(streak - 1) :], scorecard.rag] if scorecard else []
    red_streak = len(recent) == streak and all(r is Rag.RED for r in recent)
    amber_run = rules.AMBER_QUARTERS_BEFORE_REVALIDATION
    ambers = [*previous_rags, scorecard.rag][-amber_run:] if scorecard else []
    amber_streak = len(ambers) == amber_run and all(r is Rag.AMBER for r in ambers)
    criteria = [
        Criterion(
            key="scorecard",
            question="Was this quarter's scorecard recorded?",
            measured=_yes_no(scorecard is not None),
            threshold="yes",
            passed=scorecard is not None,
        ),
        Criterion(
            key="rag",
            question=f"Has the partnership stayed out of red for {streak} quarters running?",
            measured=None if scorecard is None else ", ".join(r.value for r in recent),
            threshold=f"not red {streak} quarters running",
            passed=scorecard is not None and not red_streak,
        ),
    ]
    criteria.append(
        Criterion(
            key="amber",
            question=f"Has the partnership stayed out of amber for {amber_run} quarters running?",
            measured=None if scorecard is None else ", ".join(r.value for r in ambers),
            threshold=f"not amber {amber_run} quarters running",
            passed=not amber_streak,
        )
    )
    quarters = [*(earlier or []), *([QuarterFacts.of(quarter, scorecard)] if scorecard else [])]
    exit_criteria_checked, met, missed = _exit_checks(list(exit_criteria or []), quarters, terms)
    criteria += exit_criteria_checked

    def judged(recommendation: Outcome, rationale: str) -> GateEvaluation:
        return GateEvaluation(gate=Gate.QBR, criteria=criteria, recommendation=recommendation, rationale=rationale)

    if scorecard is None:
        return judged(Outcome.NO_GO, "no scorecard: a partnership nobody measures should not continue")
    if red_streak:
        return judged(Outcome.NO_GO, f"red {streak} quarters running: end it rather than feed sunk cost")
    if met:
        return judged(Outcome.NO_GO, "exit criterion met: " + "; ".join(met) + ": end it as the charter agreed")
    if missed or amber_streak:
        why = [*missed, *([f"amber {amber_run} quarters running"] if amber_streak else [])]
        return judged(
            Outcome.REVALIDATE,
            "re-validate before exit (" + "; ".join(why) + "): a Walk-style gate decides whether Run goes on",
        )
    return judged(Outcome.GO, f"{scorecard.rag.value} quarter: continue in Run")


def with_conditions(
    evaluation: GateEvaluation, conditions: list[ConditionState], *, crawl_restarts_left: int
) -> GateEvaluation:
    """The previous go's conditions join the checklist: one unmet condition fails the gate."""
    if not conditions:
        return evaluation
    unmet = [c.title for c in conditions if not c.met]
    criterion = Criterion(
        key="conditions",
        question="Were the conditions of the last go met?",
        measured=f"{len(conditions) - len(unmet)} of {len(conditions)} met"
        + (": not " + "; not ".join(unmet) if unmet else ""),
        threshold="every condition met",
        passed=not unmet,
    )
    updated = evaluation.model_copy(update={"criteria": [*evaluation.criteria, criterion]})
    if unmet and evaluation.recommendation is Outcome.GO:
        if evaluation.gate is Gate.WALK and crawl_restarts_left > 0:
            recommendation = Outcome.RESTART_CRAWL
        else:
            recommendation = Outcome.NO_GO
        updated.recommendation = recommendation
        updated.rationale = f"the conditions of the last go were not met ({'; '.join(unmet)}): {recommendation.value}"
    return updated
