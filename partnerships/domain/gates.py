"""Go/no-go gates: evidence in, pass/fail per criterion and a recommendation out.

Evaluation is a pure function of the recorded evidence and the charter's
thresholds, so the same evidence always gives the same answer, in the workflow,
in the CLI and in tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from partnerships.domain import rules
from partnerships.domain.charter import Charter, Direction
from partnerships.domain.text import Name, Reason
from partnerships.domain.vocabulary import Gate, Outcome, Rag

ALLOWED_OUTCOMES: dict[Gate, tuple[Outcome, ...]] = {
    Gate.CRAWL: (Outcome.GO, Outcome.NO_GO, Outcome.EXTEND),
    Gate.WALK: (Outcome.GO, Outcome.NO_GO, Outcome.RESTART_CRAWL, Outcome.EXTEND),
    Gate.QBR: (Outcome.GO, Outcome.NO_GO),
}


class Evidence(BaseModel):
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


class Criterion(BaseModel):
    key: str
    question: str
    measured: str | None
    threshold: str
    passed: bool


class GateEvaluation(BaseModel):
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


def evaluate_crawl(evidence: CrawlEvidence, charter: Charter, *, can_extend: bool) -> GateEvaluation:
    """Crawl passes when every pilot saw the improvement, would recommend it, and it can scale."""
    threshold = Decimal(str(charter.gates.crawl_min_improvement_pct))
    direction = charter.measurement.metric.direction
    pilots = evidence.pilots
    improvements = [p.improvement_pct(direction) for p in pilots]
    worst = min(improvements) if improvements else None
    criteria = [
        Criterion(
            key="improvement",
            question=f"Did every pilot see ≥ {_pct(threshold)} % improvement in "
            f"{charter.measurement.metric.name} ({direction.value})?",
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
    evidence: WalkEvidence, charter: Charter, *, can_extend: bool, crawl_restarts_left: int
) -> GateEvaluation:
    """Walk passes when enough invited customers adopted, the partner promotes, support copes."""
    threshold = Decimal(str(charter.gates.walk_min_adoption_pct))
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


def evaluate_qbr(scorecard: Scorecard | None, previous_rags: list[Rag]) -> GateEvaluation:
    """A quarter in Run passes when it was measured and has not been red for too long."""
    streak = rules.RED_QUARTERS_BEFORE_EXIT
    recent = [*previous_rags[-(streak - 1) :], scorecard.rag] if scorecard else []
    red_streak = len(recent) == streak and all(r is Rag.RED for r in recent)
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
    if scorecard is None:
        return GateEvaluation(
            gate=Gate.QBR,
            criteria=criteria,
            recommendation=Outcome.NO_GO,
            rationale="no scorecard: a partnership nobody measures should not continue",
        )
    if red_streak:
        return GateEvaluation(
            gate=Gate.QBR,
            criteria=criteria,
            recommendation=Outcome.NO_GO,
            rationale=f"red {streak} quarters running: end it rather than feed sunk cost",
        )
    return GateEvaluation(
        gate=Gate.QBR,
        criteria=criteria,
        recommendation=Outcome.GO,
        rationale=f"{scorecard.rag.value} quarter: continue in Run",
    )
