"""The portfolio report: phase timelines, the gate funnel, medians and quarterly scorecards.

The numbers expected here are worked out by hand from the dates below, not by the code under test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from partnerships.adapters.store import GateReviewRow, PartnershipRow, Store, TaskRow, make_engine
from partnerships.cli.app import app
from partnerships.domain.durations import humanize
from partnerships.domain.portfolio import (
    GateAttempts,
    PartnershipFacts,
    PhasePeriod,
    ReviewFacts,
    TaskFacts,
    build_report,
    calendar_quarter,
    phase_periods,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def scorecard(rag: str, **changes: Any) -> dict[str, Any]:
    return {
        "deals_sourced": 4,
        "pipeline_sourced": 250_000,
        "revenue_closed": 90_000,
        "win_rate_pct": 35,
        "average_deal_size": 22_500,
        "active_engagements": 6,
        "certifications_completed": 3,
        "customer_satisfaction": 8.4,
        "integration_rate_pct": 60,
        "time_to_value_days": 12,
        "rag": rag,
        "notes": "",
        **changes,
    }


def partnership(slug: str, phase: str, step: str, phase_started: float, tier: int = 2) -> PartnershipFacts:
    return PartnershipFacts(
        id=f"partnership-{slug}",
        slug=slug,
        partner=slug.capitalize() + " Inc",
        tier=tier,
        phase=phase,
        step=step,
        started_at=T0,
        phase_started_at=day(phase_started),
    )


def review(slug: str, n: int, gate: str, opened: float, outcome: str | None, decided: float | None, **extra: Any):
    return ReviewFacts(
        id=f"partnership-{slug}:review-{n}",
        partnership_id=f"partnership-{slug}",
        gate=gate,
        label=f"{gate} gate review",
        opened_at=day(opened),
        recommendation="go",
        outcome=outcome,
        decided_at=None if decided is None else day(decided),
        decided_by="lee@ourco.example" if outcome else None,
        decided_by_name="Lee Chen" if outcome else None,
        **extra,
    )


def kickoff(slug: str, kind: str, created: float, batch: str = "") -> TaskFacts:
    return TaskFacts(
        id=f"partnership-{slug}:{batch or kind}:first",
        partnership_id=f"partnership-{slug}",
        kind=kind,
        title=f"{kind} task",
        owner="dana@ourco.example",
        status="open",
        created_at=day(created),
    )


# alpha: charter 3 d, Crawl 42 d, Walk 70 d, re-commitment 5 d, in Run with two QBRs (green, then red).
# bravo: charter 10 d, Crawl 28 d passed by override, Walk 84 d then restart, Crawl again 35 d, no-go.
# charlie: charter expired unsigned after 21 d.
# delta: charter 7 d, in Crawl now.
PARTNERSHIPS = [
    partnership("alpha", "run", "underway", 306, tier=3),
    partnership("bravo", "exited", "closed", 157),
    partnership("charlie", "exited", "closed", 21, tier=1),
    partnership("delta", "crawl", "underway", 7),
]
REVIEWS = [
    review("alpha", 1, "crawl", 40, "go", 45),
    review("alpha", 2, "walk", 110, "go", 115),
    review("alpha", 3, "qbr", 211, "go", 215, evidence={"scorecard": scorecard("green", notes="two | joint wins")}),
    review("alpha", 4, "qbr", 306, None, None, evidence={"scorecard": scorecard("red", deals_sourced=1)}),
    review("bravo", 1, "crawl", 38, "go", 38, overrides_failing_gate=True),
    review("bravo", 2, "walk", 120, "restart-crawl", 122),
    review("bravo", 3, "crawl", 150, "no-go", 157),
]
TASKS = [
    kickoff("alpha", "crawl-kickoff", 3, "crawl-1"),
    kickoff("alpha", "walk-kickoff", 45),
    kickoff("alpha", "run-kickoff", 120),
    kickoff("bravo", "crawl-kickoff", 10, "crawl-1"),
    kickoff("bravo", "crawl-kickoff", 122, "crawl-2"),
    kickoff("charlie", "charter-expired", 21),
    kickoff("delta", "crawl-kickoff", 7, "crawl-1"),
]


def facts_of(slug: str) -> tuple[PartnershipFacts, list[ReviewFacts], list[TaskFacts]]:
    pid = f"partnership-{slug}"
    return (
        next(p for p in PARTNERSHIPS if p.id == pid),
        [r for r in REVIEWS if r.partnership_id == pid],
        [t for t in TASKS if t.partnership_id == pid],
    )


def test_phases_begin_with_kickoff_tasks_or_the_decision_that_opened_them() -> None:
    assert phase_periods(*facts_of("alpha")) == [
        PhasePeriod("charter", T0, day(3)),
        PhasePeriod("crawl", day(3), day(45)),
        PhasePeriod("walk", day(45), day(115)),
        PhasePeriod("recommitment", day(115), day(120)),
        PhasePeriod("run", day(120), None),
    ]


def test_a_restarted_crawl_is_a_second_stay_and_an_exit_ends_the_last_one() -> None:
    assert phase_periods(*facts_of("bravo")) == [
        PhasePeriod("charter", T0, day(10)),
        PhasePeriod("crawl", day(10), day(38)),
        PhasePeriod("walk", day(38), day(122)),
        PhasePeriod("crawl", day(122), day(157)),
        PhasePeriod("exited", day(157), None),
    ]


def test_an_expired_charter_never_entered_crawl() -> None:
    assert phase_periods(*facts_of("charlie")) == [
        PhasePeriod("charter", T0, day(21)),
        PhasePeriod("exited", day(21), None),
    ]


def test_the_funnel_counts_each_partnership_once_per_gate_and_names_overrides() -> None:
    report = build_report(PARTNERSHIPS, REVIEWS, TASKS, generated_at=day(310))
    assert report.partnerships == 4
    crawl, walk, run = report.funnel
    assert (crawl.gate, crawl.entered, crawl.passed, crawl.overrides) == ("crawl", 3, 2, 1)
    assert (walk.gate, walk.entered, walk.passed, walk.overrides) == ("walk", 2, 1, 0)
    assert (run.gate, run.entered, run.passed) == ("run", 1, None)


def test_the_funnel_counts_every_decided_review_as_an_attempt_and_every_go_as_a_pass() -> None:
    crawl, walk, run = build_report(PARTNERSHIPS, REVIEWS, TASKS, generated_at=day(310)).funnel
    # Crawl: alpha go, bravo go (override) then no-go after its restart; Walk: alpha go, bravo restart.
    assert crawl.attempts == GateAttempts(attempts=3, passes=2, by_policy=0, open=0)
    assert crawl.attempts.pass_rate_pct == 66.7
    assert walk.attempts == GateAttempts(attempts=2, passes=1, by_policy=0, open=0)
    # Run: alpha's first QBR continued; its second is still open, so not an attempt yet.
    assert run.attempts == GateAttempts(attempts=1, passes=1, by_policy=0, open=1)


def test_a_walk_failed_once_then_passed_is_one_partnership_passed_in_two_attempts() -> None:
    facts = partnership("foxtrot", "walk", "recommitment", 200)
    reviews = [
        review("foxtrot", 1, "crawl", 30, "go", 30),
        review("foxtrot", 2, "walk", 90, "restart-crawl", 91),
        review("foxtrot", 3, "crawl", 120, "go", 121),
        review("foxtrot", 4, "walk", 180, "go", 200),
    ]
    walk = build_report([facts], reviews, [], generated_at=day(210)).funnel[1]
    assert (walk.entered, walk.passed) == (1, 1)
    assert (walk.attempts.attempts, walk.attempts.passes, walk.attempts.pass_rate_pct) == (2, 1, 50.0)


def test_a_policy_decision_is_an_attempt_counted_apart_and_an_extension_does_not_pass() -> None:
    facts = partnership("golf", "exited", "closed", 80)
    reviews = [
        review("golf", 1, "crawl", 30, "extend", 31),
        review("golf", 2, "crawl", 50, "no-go", 80, by_policy=True),
    ]
    crawl = build_report([facts], reviews, [], generated_at=day(90)).funnel[0]
    assert crawl.attempts == GateAttempts(attempts=2, passes=0, by_policy=1, open=0)
    assert crawl.attempts.pass_rate_pct == 0.0


def test_partnerships_are_listed_by_partner_name_with_their_last_decided_gate() -> None:
    report = build_report(PARTNERSHIPS, REVIEWS, TASKS, generated_at=day(310))
    listed = [(line.partnership.slug, None if line.last_gate is None else line.last_gate.id) for line in report.lines]
    assert listed == [
        ("alpha", "partnership-alpha:review-3"),
        ("bravo", "partnership-bravo:review-3"),
        ("charlie", None),
        ("delta", None),
    ]
    assert [len(line.quarters) for line in report.lines] == [2, 0, 0, 0]


def test_median_time_counts_finished_stays_only() -> None:
    report = build_report(PARTNERSHIPS, REVIEWS, TASKS, generated_at=day(310))
    times = {t.phase: (t.finished_stays, t.median_days) for t in report.phase_times}
    # charter: 3, 10, 21, 7 -> (7 + 10) / 2; crawl: 42, 28, 35 (delta's is under way); walk: 70, 84.
    assert times == {"charter": (4, 8.5), "crawl": (3, 35.0), "walk": (2, 77.0), "run": (0, None)}


def test_each_quarterly_review_is_one_scorecard_row_in_its_calendar_quarter() -> None:
    report = build_report(PARTNERSHIPS, REVIEWS, TASKS, generated_at=day(310))
    rows = [(q.slug, q.run_quarter, q.calendar_quarter, q.rag, q.outcome) for q in report.quarters]
    assert rows == [("alpha", 1, "2026-Q3", "green", "go"), ("alpha", 2, "2026-Q4", "red", None)]
    assert report.quarters[1].scorecard is not None and report.quarters[1].scorecard["deals_sourced"] == 1


def test_a_review_without_a_scorecard_is_still_a_row_without_a_rag() -> None:
    facts = partnership("echo", "completed", "closed", 100)
    nobody_measured = review("echo", 1, "qbr", 99, "no-go", 100, by_policy=True, evidence={"scorecard": None})
    report = build_report([facts], [nobody_measured], [], generated_at=day(120))
    assert [(q.slug, q.scorecard, q.rag, q.outcome) for q in report.quarters] == [("echo", None, None, "no-go")]


@pytest.mark.parametrize(
    ("moment", "quarter"),
    [(datetime(2026, 3, 31, 23, 59, tzinfo=UTC), "2026-Q1"), (datetime(2026, 4, 1, tzinfo=UTC), "2026-Q2")],
)
def test_calendar_quarters_turn_on_the_first_of_april_july_october(moment: datetime, quarter: str) -> None:
    assert calendar_quarter(moment) == quarter


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45s"), (600, "10m"), (7200, "2h"), (3 * 86400, "3d"), (13 * 86400, "13d"), (15 * 86400, "2w")],
)
def test_durations_read_the_way_people_say_them(seconds: int, text: str) -> None:
    assert humanize(timedelta(seconds=seconds)) == text


# ------------------------------------------------------------ from the store


def seed_store(store: Store) -> None:
    """Write the scenario as the worker's activities would have."""
    for p in PARTNERSHIPS:
        store.upsert(
            PartnershipRow(
                id=p.id,
                slug=p.slug,
                partner=p.partner,
                tier=p.tier,
                leverage="high",
                phase=p.phase,
                step=p.step,
                awaiting="",
                started_at=p.started_at,
                phase_started_at=p.phase_started_at,
                updated_at=p.phase_started_at,
            )
        )
    for r in REVIEWS:
        store.upsert(
            GateReviewRow(
                id=r.id,
                partnership_id=r.partnership_id,
                gate=r.gate,
                label=r.label,
                opened_at=r.opened_at,
                evidence_json=json.dumps(r.evidence),
                evaluation_json=json.dumps({"criteria": [], "rationale": "", "recommendation": "go"}),
                recommendation=r.recommendation,
                outcome=r.outcome,
                decided_by=r.decided_by,
                decided_by_name=r.decided_by_name,
                decided_at=r.decided_at,
                overrides_failing_gate=r.overrides_failing_gate,
            )
        )
    for t in TASKS:
        store.upsert(
            TaskRow(
                id=t.id,
                partnership_id=t.partnership_id,
                kind=t.kind,
                title=t.title,
                description="",
                owner=t.owner,
                created_at=t.created_at,
            )
        )


@pytest.fixture
def seeded(store_url: str) -> dict[str, str]:
    url = store_url
    engine = make_engine(url)
    seed_store(Store(engine))
    engine.dispose()
    return {"DATABASE_URL": url}


@pytest.mark.every_store
def test_the_report_command_writes_html_and_markdown_with_the_portfolios_numbers(
    seeded: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    result = CliRunner().invoke(app, ["report", "--format", "both", "--output", str(out)], env=seeded)
    assert result.exit_code == 0, result.output
    markdown = (out / "portfolio-report.md").read_text()
    assert "4 partnership(s)." in markdown
    assert "| Crawl | 3 | 2 | 1 | 3 | 2 | 66.7 % | 0 | 0 |" in markdown
    assert "| Walk | 2 | 1 | 0 | 2 | 1 | 50.0 % | 0 | 0 |" in markdown
    assert "| Run | 1 | — | — | 1 | 1 | 100.0 % | 0 | 1 |" in markdown
    assert "| Bravo Inc | bravo | not recorded | Exited | closed | — | Crawl: no-go | 2026-06-11 | — | — |" in markdown
    assert "| Charter | 8.5 days | 4 |" in markdown and "| Crawl | 35.0 days | 3 |" in markdown
    assert "| Walk | 77.0 days | 2 |" in markdown and "| Run | — | 0 |" in markdown
    assert "### Alpha Inc (alpha), tier 3" in markdown
    assert (
        "| 1 | 2026-Q3 | GREEN | 4 | 250,000 | 90,000 | 35 % | 22,500 | 6 | 3 | 8.4 | 60 % "
        "| 12 days | go | two \\| joint wins |"
    ) in markdown
    assert "| 2 | 2026-Q4 | RED | 1 | 250,000 |" in markdown


@pytest.mark.every_store
def test_the_html_report_is_self_contained_with_an_inline_svg_funnel(seeded: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--format", "html", "--output", str(tmp_path)], env=seeded)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "portfolio-report.md").exists()
    html = (tmp_path / "portfolio-report.html").read_text()
    funnel_svg = html[html.index('<figure id="funnel-chart">') : html.index("</figure>")]
    # Bars: charters started 4, entered Crawl 3, passed Crawl 2, passed Walk 1, entered Run 1.
    for label, count in [
        ("Charters started", 4),
        ("Entered Crawl", 3),
        ("Passed Crawl gate", 2),
        ("Passed Walk gate", 1),
        ("Entered Run", 1),
    ]:
        assert f"<title>{label}: {count}</title>" in funnel_svg
    assert "<title>Walk (n=2): 77.0 days</title>" in html
    assert "two | joint wins" in html and "2026-Q4" in html
    for outside in ("<script", "<link", "@import", "url(", "https://"):
        assert outside not in html
    assert html.count("http://") == html.count('xmlns="http://www.w3.org/2000/svg"') == 2


@pytest.mark.every_store
def test_a_bad_report_format_or_unwritable_folder_is_one_line(seeded: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--format", "pdf"], env=seeded)
    assert (result.exit_code, result.output.strip()) == (1, "error: --format: 'pdf' is not a format (html, md or both)")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(app, ["report", "--output", str(blocker / "reports")], env=seeded)
    assert result.exit_code == 1 and result.output.startswith(f"error: --output: cannot write to {blocker}")
    assert len(result.output.strip().splitlines()) == 1
