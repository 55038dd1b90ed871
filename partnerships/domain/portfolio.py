"""The portfolio at a glance: partnerships by name, phase timelines, the gate funnel and the
quarterly scorecards.

Pure on purpose: fed plain facts (loaded from the store by `partnerships.service.report`), it
imports neither Temporal nor the database, so every number in the report can be
checked against hand-made data.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from partnerships.domain.durations import SECONDS_PER_DAY
from partnerships.domain.gates import Gate, Outcome
from partnerships.domain.lifecycle import ENDED_PHASES, WIND_DOWN_TASKS, Phase, TaskKind
from partnerships.domain.vocabulary import Step


class ReportFormat(StrEnum):
    HTML = "html"
    MD = "md"
    BOTH = "both"

    def extensions(self) -> list[str]:
        return ["html", "md"] if self is ReportFormat.BOTH else [self.value]


# The stages a partnership passes through, in order; "recommitment" is the wait between a
# passed Walk gate and Run, which belongs to neither phase.
RECOMMITMENT = "recommitment"
MEASURED_PHASES = (Phase.CHARTER, Phase.CRAWL, Phase.WALK, Phase.RUN)
SCORECARD_FIELDS = (
    "deals_sourced",
    "pipeline_sourced",
    "revenue_closed",
    "win_rate_pct",
    "average_deal_size",
    "active_engagements",
    "certifications_completed",
    "customer_satisfaction",
    "integration_rate_pct",
    "time_to_value_days",
    "notes",
)


@dataclass(frozen=True)
class PartnershipFacts:
    id: str
    slug: str
    partner: str
    tier: int
    phase: str
    step: str
    started_at: datetime
    phase_started_at: datetime
    rag: str | None = None
    end_reason: str | None = None
    # A scorecard recorded for the quarter under way (or one an exit cut short) that no QBR holds.
    unreviewed_scorecard: dict[str, Any] | None = None
    # "" in real time, "rehearsal: 1 week = …" for compressed time, None when the store does not know.
    rehearsal: str | None = None
    next_deadline: str | None = None
    next_deadline_at: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.phase in {p.value for p in ENDED_PHASES}

    @property
    def is_rehearsal(self) -> bool:
        return bool(self.rehearsal)


@dataclass(frozen=True)
class ReviewFacts:
    id: str
    partnership_id: str
    gate: str
    label: str
    opened_at: datetime
    recommendation: str
    evidence: dict[str, Any] = field(default_factory=dict)
    criteria: list[dict[str, Any]] = field(default_factory=list)
    rationale: str = ""
    outcome: str | None = None
    decided_by: str | None = None
    decided_by_name: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None
    by_policy: bool = False
    overrides_failing_gate: bool = False


@dataclass(frozen=True)
class TaskFacts:
    id: str
    partnership_id: str
    kind: str
    title: str
    owner: str
    status: str
    created_at: datetime
    due_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None


@dataclass(frozen=True)
class PhasePeriod:
    phase: str
    started_at: datetime
    ended_at: datetime | None

    def duration(self, now: datetime) -> timedelta:
        return (self.ended_at or now) - self.started_at


@dataclass(frozen=True)
class GateAttempts:
    """Every try at one gate, across the portfolio: a partnership may try a gate more than once.

    An attempt is one review of the gate that was decided, by a reviewer or by policy (nobody
    decided within the review window: it counts like any decision and is also shown apart).
    A pass is an attempt decided go, a go that overrode a failing evaluation included; no-go,
    restart-crawl and extend are attempts that did not pass. A review still open is no attempt
    yet: it is counted apart. At Run the attempts are the quarterly reviews and a pass is a
    decision to continue.
    """

    attempts: int = 0
    passes: int = 0
    by_policy: int = 0
    open: int = 0

    @property
    def pass_rate_pct(self) -> float | None:
        return round(self.passes / self.attempts * 100, 1) if self.attempts else None


@dataclass(frozen=True)
class FunnelStage:
    """One stage: how many partnerships entered it and passed its gate (each once), and every attempt."""

    gate: str
    entered: int
    passed: int | None
    overrides: int = 0
    attempts: GateAttempts = GateAttempts()


@dataclass(frozen=True)
class PhaseTime:
    phase: str
    finished_stays: int
    median_days: float | None


@dataclass(frozen=True)
class QuarterRow:
    partnership_id: str
    slug: str
    partner: str
    tier: int
    run_quarter: int
    calendar_quarter: str
    reviewed_at: datetime
    scorecard: dict[str, Any] | None
    rag: str | None
    outcome: str | None


@dataclass(frozen=True)
class PartnershipLine:
    """One partnership as the report lists it by name: where it stands, its last gate, its quarters."""

    partnership: PartnershipFacts
    last_gate: ReviewFacts | None
    quarters: list[QuarterRow]
    next_deadline: str | None = None
    next_deadline_at: datetime | None = None


@dataclass(frozen=True)
class PortfolioReport:
    generated_at: datetime
    partnerships: int
    funnel: list[FunnelStage]
    phase_times: list[PhaseTime]
    quarters: list[QuarterRow]
    # By partner name, then slug.
    lines: list[PartnershipLine] = field(default_factory=list)
    rehearsals: int = 0


_Owned = TypeVar("_Owned", ReviewFacts, TaskFacts)


# ---------------------------------------------------------------- timelines


def phase_periods(
    partnership: PartnershipFacts,
    reviews: Iterable[ReviewFacts],
    tasks: Iterable[TaskFacts],
    *,
    signed_at: datetime | None = None,
    recommitted_at: datetime | None = None,
) -> list[PhasePeriod]:
    """When each phase began and ended, from the decision record.

    A phase begins with the decision that opened it (Walk after a Crawl go, Crawl again
    after a Walk restart) or, for Crawl and Run, the last signature (`signed_at`,
    `recommitted_at`, known to the workflow) or else the kickoff tasks, created moments
    later. A phase ends when the next one begins, or when the partnership ended.
    """
    tasks = list(tasks)
    entries: list[tuple[datetime, str]] = [(partnership.started_at, Phase.CHARTER.value)]
    first_crawl = signed_at or _first_created(tasks, TaskKind.CRAWL_KICKOFF, partnership.id)
    run_tasks = recommitted_at or _first_created(tasks, TaskKind.RUN_KICKOFF, partnership.id)
    if first_crawl is not None:
        entries.append((first_crawl, Phase.CRAWL.value))
    for review in reviews:
        entered = _phase_entered_by(review)
        if entered is not None and review.decided_at is not None:
            entries.append((review.decided_at, entered))
    if run_tasks is not None:
        entries.append((run_tasks, Phase.RUN.value))
    entries.sort(key=lambda entry: entry[0])
    ended_at = partnership.phase_started_at if partnership.ended else None
    periods = [
        PhasePeriod(phase, started, entries[i + 1][0] if i + 1 < len(entries) else ended_at)
        for i, (started, phase) in enumerate(entries)
    ]
    if ended_at is not None:
        periods.append(PhasePeriod(partnership.phase, ended_at, None))
    return periods


def _first_created(tasks: Iterable[TaskFacts], kind: TaskKind, partnership_id: str) -> datetime | None:
    return min(
        (t.created_at for t in tasks if t.kind == kind.value and t.partnership_id == partnership_id),
        default=None,
    )


def _phase_entered_by(review: ReviewFacts) -> str | None:
    if review.gate == Gate.CRAWL and review.outcome == Outcome.GO:
        return Phase.WALK.value
    if review.gate == Gate.WALK and review.outcome == Outcome.RESTART_CRAWL:
        return Phase.CRAWL.value
    if review.gate == Gate.WALK and review.outcome == Outcome.GO:
        return RECOMMITMENT
    return None


# ------------------------------------------------------------------ funnel


def _passed(reviews: Iterable[ReviewFacts], gate: Gate) -> tuple[bool, bool]:
    """(passed the gate, passed it only by overriding a failing evaluation)."""
    goes = [r for r in reviews if r.gate == gate and r.outcome == Outcome.GO]
    return bool(goes), bool(goes) and all(r.overrides_failing_gate for r in goes)


def gate_attempts(reviews: Iterable[ReviewFacts], gate: Gate) -> GateAttempts:
    """Every decided review of `gate` is an attempt, every go a pass (see `GateAttempts`)."""
    own = [r for r in reviews if r.gate == gate]
    decided = [r for r in own if r.outcome is not None]
    return GateAttempts(
        attempts=len(decided),
        passes=sum(r.outcome == Outcome.GO for r in decided),
        by_policy=sum(r.by_policy for r in decided),
        open=len(own) - len(decided),
    )


def funnel(histories: Sequence[tuple[PartnershipFacts, list[ReviewFacts], list[PhasePeriod]]]) -> list[FunnelStage]:
    """How many partnerships entered and passed each gate (each counted once, restarts or not),
    and how many attempts it took (each decided review once)."""
    entered = {phase: 0 for phase in (Phase.CRAWL, Phase.WALK, Phase.RUN)}
    passed = {Gate.CRAWL: 0, Gate.WALK: 0}
    overrides = {Gate.CRAWL: 0, Gate.WALK: 0}
    for _, reviews, periods in histories:
        phases = {p.phase for p in periods}
        for phase in entered:
            entered[phase] += phase.value in phases
        for gate in passed:
            did_pass, by_override = _passed(reviews, gate)
            passed[gate] += did_pass
            overrides[gate] += by_override
    reviews = [r for _, own, _ in histories for r in own]
    return [
        FunnelStage(
            Gate.CRAWL.value,
            entered[Phase.CRAWL],
            passed[Gate.CRAWL],
            overrides[Gate.CRAWL],
            gate_attempts(reviews, Gate.CRAWL),
        ),
        FunnelStage(
            Gate.WALK.value,
            entered[Phase.WALK],
            passed[Gate.WALK],
            overrides[Gate.WALK],
            gate_attempts(reviews, Gate.WALK),
        ),
        FunnelStage(Phase.RUN.value, entered[Phase.RUN], None, attempts=gate_attempts(reviews, Gate.QBR)),
    ]


def median_phase_times(periods: Iterable[PhasePeriod]) -> list[PhaseTime]:
    """The median finished stay in each phase; a stay still under way has no length yet."""
    periods = list(periods)
    times = []
    for phase in MEASURED_PHASES:
        days = [
            (p.ended_at - p.started_at).total_seconds() / SECONDS_PER_DAY
            for p in periods
            if p.phase == phase.value and p.ended_at is not None
        ]
        times.append(PhaseTime(phase.value, len(days), statistics.median(days) if days else None))
    return times


# ---------------------------------------------------------------- quarters


def calendar_quarter(moment: datetime) -> str:
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def quarter_rows(partnership: PartnershipFacts, reviews: Iterable[ReviewFacts]) -> list[QuarterRow]:
    """One row per quarterly business review, with its scorecard (None when nobody recorded one)."""
    qbrs = sorted((r for r in reviews if r.gate == Gate.QBR), key=lambda r: r.opened_at)
    rows = []
    for number, review in enumerate(qbrs, start=1):
        scorecard = review.evidence.get("scorecard")
        card = scorecard if isinstance(scorecard, dict) else None
        rows.append(
            QuarterRow(
                partnership_id=partnership.id,
                slug=partnership.slug,
                partner=partnership.partner,
                tier=partnership.tier,
                run_quarter=number,
                calendar_quarter=calendar_quarter(review.opened_at),
                reviewed_at=review.opened_at,
                scorecard=card,
                rag=None if card is None else card.get("rag"),
                outcome=review.outcome,
            )
        )
    card = partnership.unreviewed_scorecard
    if card is not None:
        # Recorded, never reviewed (the quarter is under way, or an exit ended it first): still on record.
        rows.append(
            QuarterRow(
                partnership_id=partnership.id,
                slug=partnership.slug,
                partner=partnership.partner,
                tier=partnership.tier,
                run_quarter=len(qbrs) + 1,
                calendar_quarter=calendar_quarter(partnership.phase_started_at),
                reviewed_at=partnership.phase_started_at,
                scorecard=card,
                rag=card.get("rag"),
                outcome="not reviewed",
            )
        )
    return rows


# ------------------------------------------------------------------ by name


def last_decided(reviews: Iterable[ReviewFacts]) -> ReviewFacts | None:
    """The latest decided review of any gate (QBRs included): the partnership's last gate."""
    decided = [r for r in reviews if r.outcome is not None and r.decided_at is not None]
    return max(decided, key=lambda r: (r.decided_at, r.opened_at), default=None)


def next_deadline(partnership: PartnershipFacts, tasks: Iterable[TaskFacts]) -> tuple[str, datetime] | None:
    """The deadline of the step under way, as the workflow last recorded it; a wind-down's is
    its earliest open wind-down task's due date (those tasks live in the store's task list)."""
    if partnership.step == Step.WINDING_DOWN:
        wind_down = {kind.value for kind in WIND_DOWN_TASKS}
        due = [
            t.due_at
            for t in tasks
            if t.partnership_id == partnership.id and t.kind in wind_down and t.status == "open" and t.due_at
        ]
        return ("wind-down task due", min(due)) if due else None
    if partnership.next_deadline is None or partnership.next_deadline_at is None:
        return None
    return partnership.next_deadline, partnership.next_deadline_at


def by_name(partnership: PartnershipFacts) -> tuple[str, str]:
    return partnership.partner.casefold(), partnership.slug


# ------------------------------------------------------------------ report


def build_report(
    partnerships: Iterable[PartnershipFacts],
    reviews: Iterable[ReviewFacts],
    tasks: Iterable[TaskFacts],
    generated_at: datetime,
) -> PortfolioReport:
    """The portfolio's quarterly scorecard and gate funnel, from the engine's decision record."""
    partnerships = sorted(partnerships, key=lambda p: p.slug)
    reviews_by_id = _group(reviews)
    tasks_by_id = _group(tasks)
    histories = []
    quarters: list[QuarterRow] = []
    lines = []
    for partnership in partnerships:
        own_reviews = sorted(reviews_by_id.get(partnership.id, []), key=lambda r: r.opened_at)
        own_tasks = tasks_by_id.get(partnership.id, [])
        periods = phase_periods(partnership, own_reviews, own_tasks)
        histories.append((partnership, own_reviews, periods))
        own_quarters = quarter_rows(partnership, own_reviews)
        quarters += own_quarters
        deadline = next_deadline(partnership, own_tasks)
        lines.append(
            PartnershipLine(
                partnership,
                last_decided(own_reviews),
                own_quarters,
                next_deadline=None if deadline is None else deadline[0],
                next_deadline_at=None if deadline is None else deadline[1],
            )
        )
    return PortfolioReport(
        generated_at=generated_at,
        partnerships=len(partnerships),
        funnel=funnel(histories),
        phase_times=median_phase_times(p for _, _, periods in histories for p in periods),
        quarters=quarters,
        lines=sorted(lines, key=lambda line: by_name(line.partnership)),
        rehearsals=sum(p.is_rehearsal for p in partnerships),
    )


def _group(items: Iterable[_Owned]) -> dict[str, list[_Owned]]:
    grouped: dict[str, list[_Owned]] = {}
    for item in items:
        grouped.setdefault(item.partnership_id, []).append(item)
    return grouped
