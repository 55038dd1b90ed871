"""Gate evaluation is a pure function of evidence and thresholds: its boundaries, exactly."""

from __future__ import annotations

import pytest

from partnerships.domain.gates import (
    CrawlEvidence,
    Outcome,
    PilotResult,
    Rag,
    WalkEvidence,
    evaluate_crawl,
    evaluate_qbr,
    evaluate_walk,
)
from tests.helpers import example_charter, scorecard


def _pilot(before: float, after: float, recommend: bool = True, name: str = "Initech") -> PilotResult:
    return PilotResult(customer=name, metric_before=before, metric_after=after, would_recommend=recommend)


def _crawl(
    *pilots: PilotResult,
    can_scale: bool | None = True,
    direction: str = "lower-is-better",
    can_extend: bool = True,
):
    charter = example_charter(measurement__metric__direction=direction)
    return evaluate_crawl(
        CrawlEvidence(pilots=list(pilots), integration_can_scale=can_scale),
        charter,
        can_extend=can_extend,
    )


@pytest.mark.parametrize(("after", "passes"), [(8.0, True), (8.01, False), (7.99, True)])
def test_crawl_needs_at_least_20_percent_improvement_when_lower_is_better(after: float, passes: bool) -> None:
    assert _crawl(_pilot(10, after)).passed is passes


@pytest.mark.parametrize(("after", "passes"), [(120, True), (119.9, False)])
def test_crawl_needs_at_least_20_percent_improvement_when_higher_is_better(after: float, passes: bool) -> None:
    assert _crawl(_pilot(100, after), direction="higher-is-better").passed is passes


def test_19_9_percent_fails_and_20_percent_passes_exactly() -> None:
    assert not _crawl(_pilot(1000, 801)).passed  # 19.9 %
    assert _crawl(_pilot(1000, 800)).passed  # 20.0 %


def test_an_improvement_in_the_wrong_direction_fails() -> None:
    evaluation = _crawl(_pilot(10, 13))  # lower is better, it went up 30 %
    assert not evaluation.passed
    assert evaluation.criteria[0].measured == "Initech -30.0 %"


def test_every_pilot_must_see_the_improvement_not_just_on_average() -> None:
    evaluation = _crawl(_pilot(10, 5, name="A"), _pilot(10, 9, name="B"))  # 50 % and 10 %
    assert not evaluation.passed and evaluation.failing[0].key == "improvement"


def test_crawl_fails_when_a_pilot_would_not_recommend_it_or_it_cannot_scale() -> None:
    assert [c.key for c in _crawl(_pilot(10, 5, recommend=False)).failing] == ["would_recommend"]
    assert [c.key for c in _crawl(_pilot(10, 5), can_scale=False).failing] == ["can_scale"]


def test_a_failing_crawl_is_recommended_no_go_and_missing_evidence_an_extension() -> None:
    assert _crawl(_pilot(10, 9.5)).recommendation is Outcome.NO_GO
    assert _crawl(can_scale=None).recommendation is Outcome.EXTEND
    assert _crawl(can_scale=None, can_extend=False).recommendation is Outcome.NO_GO
    assert _crawl(_pilot(10, 7)).recommendation is Outcome.GO


def _walk(
    invited: int | None,
    adopted: int | None,
    promoting: bool = True,
    manageable: bool = True,
    restarts_left: int = 1,
):
    evidence = WalkEvidence(
        invited=invited, adopted=adopted, partner_promoting=promoting, support_manageable=manageable
    )
    return evaluate_walk(evidence, example_charter(), can_extend=True, crawl_restarts_left=restarts_left)


@pytest.mark.parametrize(
    ("invited", "adopted", "passes"),
    [(10, 7, True), (100, 69, False), (100, 70, True), (1000, 699, False), (3, 3, False)],
)
def test_walk_needs_70_percent_of_at_least_five_invited_customers(invited: int, adopted: int, passes: bool) -> None:
    assert _walk(invited, adopted).passed is passes


def test_walk_fails_without_partner_promotion_or_with_unmanageable_support() -> None:
    assert [c.key for c in _walk(10, 9, promoting=False).failing] == ["partner_promoting"]
    assert [c.key for c in _walk(10, 9, manageable=False).failing] == ["support_manageable"]


def test_a_failing_walk_is_recommended_a_crawl_restart_once_then_an_exit() -> None:
    assert _walk(10, 2).recommendation is Outcome.RESTART_CRAWL
    assert _walk(10, 2, restarts_left=0).recommendation is Outcome.NO_GO


def test_the_charter_may_raise_a_threshold_above_the_framework() -> None:
    charter = example_charter(gates={"crawl_min_improvement_pct": 30, "walk_min_adoption_pct": 80})
    crawl = evaluate_crawl(
        CrawlEvidence(pilots=[_pilot(10, 7.5)], integration_can_scale=True),
        charter,
        can_extend=False,
    )
    assert not crawl.passed  # 25 % is not 30 %


def test_a_qbr_without_a_scorecard_is_a_no_go() -> None:
    evaluation = evaluate_qbr(None, [])
    assert not evaluation.passed and evaluation.recommendation is Outcome.NO_GO


def test_two_red_quarters_running_recommend_ending_the_partnership() -> None:
    assert evaluate_qbr(scorecard(Rag.RED), []).recommendation is Outcome.GO
    assert evaluate_qbr(scorecard(Rag.RED), [Rag.GREEN]).recommendation is Outcome.GO
    assert evaluate_qbr(scorecard(Rag.RED), [Rag.RED]).recommendation is Outcome.NO_GO
    assert evaluate_qbr(scorecard(Rag.AMBER), [Rag.RED]).passed
