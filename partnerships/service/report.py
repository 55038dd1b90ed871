"""The portfolio report: facts loaded from the store, aggregated by `portfolio`, rendered by Jinja2.

The templates live in `charters/report/` so they can be edited like the other texts;
the charts are SVG built here, inline, with no scripts and no web fonts, so the HTML
file opens anywhere, offline, and can be mailed as it is.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup
from sqlmodel import col, select

from partnerships.adapters.store import GateReviewRow, PartnershipRow, Store, TaskRow
from partnerships.domain.durations import humanize
from partnerships.domain.lifecycle import GateReview
from partnerships.domain.portfolio import (
    SECONDS_PER_DAY,
    PartnershipFacts,
    PortfolioReport,
    ReportFormat,
    ReviewFacts,
    TaskFacts,
)

REPORT_NAME = "portfolio-report"
RAG_COLOURS = {"red": "#c62828", "amber": "#ef8f00", "green": "#2e7d32"}


# ----------------------------------------------------------------- loading


def _aware(moment: datetime) -> datetime:
    # SQLite (and a Postgres `timestamp` column) hands back naive datetimes; the engine writes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _maybe_aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)


def partnership_facts(row: PartnershipRow) -> PartnershipFacts:
    return PartnershipFacts(
        id=row.id,
        slug=row.slug,
        partner=row.partner,
        tier=row.tier,
        phase=row.phase,
        step=row.step,
        started_at=_aware(row.started_at),
        phase_started_at=_aware(row.phase_started_at),
        rag=row.rag,
        end_reason=row.end_reason,
        unreviewed_scorecard=_unreviewed_scorecard(row),
        rehearsal=row.rehearsal,
        next_deadline=row.next_deadline,
        next_deadline_at=_maybe_aware(row.next_deadline_at),
    )


def _unreviewed_scorecard(row: PartnershipRow) -> dict[str, Any] | None:
    evidence = json.loads(row.evidence_json) if row.evidence_json else {}
    card = evidence.get("scorecard") if isinstance(evidence, dict) else None
    return card if isinstance(card, dict) else None


def review_facts(row: GateReviewRow) -> ReviewFacts:
    evaluation = json.loads(row.evaluation_json)
    return ReviewFacts(
        id=row.id,
        partnership_id=row.partnership_id,
        gate=row.gate,
        label=row.label,
        opened_at=_aware(row.opened_at),
        recommendation=row.recommendation,
        evidence=json.loads(row.evidence_json),
        criteria=evaluation.get("criteria", []),
        rationale=evaluation.get("rationale", ""),
        outcome=row.outcome,
        decided_by=row.decided_by,
        decided_by_name=row.decided_by_name,
        reason=row.reason,
        decided_at=_maybe_aware(row.decided_at),
        by_policy=row.by_policy,
        overrides_failing_gate=row.overrides_failing_gate,
    )


def review_facts_from_state(partnership_id: str, review: GateReview) -> ReviewFacts:
    """A review as the workflow holds it (the open one, and the latest decided ones)."""
    decision = review.decision
    return ReviewFacts(
        id=review.id,
        partnership_id=partnership_id,
        gate=review.gate.value,
        label=review.label,
        opened_at=review.opened_at,
        recommendation=review.evaluation.recommendation.value,
        evidence=dict(review.evidence),
        criteria=[c.model_dump(mode="json") for c in review.evaluation.criteria],
        rationale=review.evaluation.rationale,
        outcome=decision.outcome.value if decision else None,
        decided_by=decision.decided_by if decision else None,
        decided_by_name=decision.decided_by_name if decision else None,
        reason=decision.reason if decision else None,
        decided_at=decision.decided_at if decision else None,
        by_policy=decision.by_policy if decision else False,
        overrides_failing_gate=decision.overrides_failing_gate if decision else False,
    )


def task_facts(row: TaskRow) -> TaskFacts:
    return TaskFacts(
        id=row.id,
        partnership_id=row.partnership_id,
        kind=row.kind,
        title=row.title,
        owner=row.owner,
        status=row.status,
        created_at=_aware(row.created_at),
        due_at=_maybe_aware(row.due_at),
        closed_at=_maybe_aware(row.closed_at),
        closed_by=row.closed_by,
    )


def load_portfolio(store: Store) -> tuple[list[PartnershipFacts], list[ReviewFacts], list[TaskFacts]]:
    """Everything the report needs, read once from the store."""
    with store.session() as session:
        partnerships = list(session.exec(select(PartnershipRow).order_by(col(PartnershipRow.slug))))
        reviews = list(session.exec(select(GateReviewRow).order_by(col(GateReviewRow.opened_at))))
    tasks = store.tasks(None, status=None)
    return (
        [partnership_facts(r) for r in partnerships],
        [review_facts(r) for r in reviews],
        [task_facts(r) for r in tasks],
    )


def load_partnership(
    store: Store, partnership_id: str
) -> tuple[PartnershipFacts | None, list[ReviewFacts], list[TaskFacts]]:
    """One partnership's full record: every review (the workflow keeps only the latest) and task."""
    with store.session() as session:
        row = session.get(PartnershipRow, partnership_id)
    return (
        None if row is None else partnership_facts(row),
        [review_facts(r) for r in store.reviews(partnership_id)],
        [task_facts(r) for r in store.tasks(partnership_id, status=None)],
    )


# --------------------------------------------------------------- formatting


def describe_days(days: float | None) -> str:
    if days is None:
        return "—"
    if days >= 1:
        return f"{days:.1f} days"
    return humanize(timedelta(seconds=days * SECONDS_PER_DAY))


def _money(value: Any) -> str:
    return "—" if value is None else f"{float(value):,.0f}"


def _number(value: Any, suffix: str = "") -> str:
    return "—" if value is None else f"{float(value):g}{suffix}"


def _md_cell(value: Any) -> str:
    # A pipe or a newline in a note would break the Markdown table around it.
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


GATE_NAMES = {"crawl": "Crawl", "walk": "Walk", "qbr": "QBR"}


def describe_gate(review: ReviewFacts | None) -> str:
    """`Walk: restart-crawl`, `Crawl: go (override)`, `Crawl: no-go (by policy)`; — before any decision."""
    if review is None or review.outcome is None:
        return "—"
    marks = [m for m, on in (("override", review.overrides_failing_gate), ("by policy", review.by_policy)) if on]
    return f"{GATE_NAMES.get(review.gate, review.gate)}: {review.outcome}" + (f" ({', '.join(marks)})" if marks else "")


def describe_rehearsal(partnership: PartnershipFacts) -> str:
    if partnership.rehearsal is None:
        return "not recorded"
    return partnership.rehearsal or "no"


def in_utc(moment: datetime | None, seconds: bool = False) -> str:
    """A date and time with its time zone; a rehearsal's deadlines are seconds apart."""
    if moment is None:
        return "—"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M{':%S' if seconds else ''}} UTC"


def add_filters(environment: Environment) -> Environment:
    environment.filters.update(
        money=_money,
        number=_number,
        md_cell=_md_cell,
        days=describe_days,
        when=lambda moment: "—" if moment is None else f"{moment:%Y-%m-%d %H:%M}",
        utc=in_utc,
        gate=describe_gate,
        rehearsal=describe_rehearsal,
        day=lambda moment: "—" if moment is None else f"{moment:%Y-%m-%d}",
    )
    return environment


# ------------------------------------------------------------------- charts


def funnel_svg(report: PortfolioReport) -> Markup:
    """Horizontal bars: started, entered and passed each gate, entered Run."""
    crawl, walk, run = report.funnel
    bars = [
        ("Charters started", report.partnerships, "#90a4ae"),
        ("Entered Crawl", crawl.entered, "#64b5f6"),
        ("Passed Crawl gate", crawl.passed or 0, "#1e88e5"),
        ("Passed Walk gate", walk.passed or 0, "#3949ab"),
        ("Entered Run", run.entered, "#2e7d32"),
    ]
    return _bar_chart("Gate funnel", [(label, float(value), str(value), colour) for label, value, colour in bars])


def phase_time_svg(report: PortfolioReport) -> Markup:
    """Horizontal bars: the median finished stay in each phase."""
    bars = [
        (
            f"{t.phase.capitalize()} (n={t.finished_stays})",
            t.median_days or 0.0,
            describe_days(t.median_days),
            "#6d4c41",
        )
        for t in report.phase_times
    ]
    return _bar_chart("Median time in each phase", bars)


def _bar_chart(title: str, bars: list[tuple[str, float, str, str]]) -> Markup:
    label_width, bar_width, row_height, top = 170, 360, 28, 34
    largest = max((value for _, value, _, _ in bars), default=0) or 1
    height = top + row_height * len(bars) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{label_width + bar_width + 110}" height="{height}" font-family="sans-serif" font-size="13">',
        f'<text x="0" y="18" font-weight="bold" font-size="15">{escape(title)}</text>',
    ]
    for i, (label, value, shown, colour) in enumerate(bars):
        y = top + i * row_height
        width = round(bar_width * value / largest, 1)
        parts += [
            f'<text x="{label_width - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{label_width}" y="{y + 3}" width="{width}" height="{row_height - 8}" fill="{colour}">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>",
            f'<text x="{label_width + width + 6}" y="{y + 17}">{escape(shown)}</text>',
        ]
    parts.append("</svg>")
    # Every piece of text above went through `escape`, so the markup is safe to inline.
    return Markup("".join(parts))


# ---------------------------------------------------------------- rendering


def render_report(report: PortfolioReport, environment: Environment, extension: str) -> str:
    template = add_filters(environment).get_template(f"report/report.{extension}.j2")
    return template.render(
        r=report,
        rag_colours=RAG_COLOURS,
        funnel_chart=funnel_svg(report) if extension == "html" else "",
        phase_chart=phase_time_svg(report) if extension == "html" else "",
    )


def write_report(report: PortfolioReport, environment: Environment, formats: ReportFormat, output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for extension in formats.extensions():
        path = output / f"{REPORT_NAME}.{extension}"
        path.write_text(render_report(report, environment, extension), encoding="utf-8")
        written.append(path)
    return written
