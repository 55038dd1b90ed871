"""Every statement of the portfolio report, checked against the store's own rows.

The store is written the way the worker writes it: four partnerships driven through the pure
lifecycle, each step recorded with `Store.write_step` (snapshot, reviews, kickoff tasks made
from `charters/tasks.yaml`, tasks closed as moot). The rendered report is then parsed, and
each row and figure is compared with what SQL over those rows says: not with the report's
own domain functions, so a wrong aggregation or a wrong template fails here.

- Orbit Systems: a Walk gate that failed (Crawl restarted) and passed later; now re-committing.
- Kestrel Labs: Crawl failed and nobody decided, so policy ended it; winding down.
- Acme Analytics: Crawl passed by override, in Run with two QBRs decided.
- Lumen Co: a rehearsal (1 week = 60 s) with its Crawl gate review open.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from partnerships.adapters.config import REPO_ROOT
from partnerships.adapters.store import Store, make_engine
from partnerships.adapters.templates import TaskList, load_task_templates, make_environment
from partnerships.cli.app import app
from partnerships.domain import views
from partnerships.domain.gates import Outcome, PilotResult, Rag, Scorecard
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
from partnerships.engine.contracts import CloseTasksInput, CreateTasksInput, StepRecord
from tests.helpers import PARTNER, REVIEWER, STORES, US, example_charter

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TEMPLATES = REPO_ROOT / "charters"
GATE_NAMES = {"crawl": "Crawl", "walk": "Walk", "qbr": "QBR"}


# ------------------------------------------------------------ the store, as the worker writes it


class Recorder:
    """One partnership driven through the pure lifecycle, each step written as the worker writes it."""

    def __init__(self, store: Store, partnership: Partnership) -> None:
        self.store = store
        self.p = partnership
        self.tasks = TaskList(make_environment(TEMPLATES), load_task_templates(TEMPLATES))
        self.record(partnership.started_at)

    def record(self, now: datetime, transition: Transition | None = None, review: GateReview | None = None) -> datetime:
        p = self.p
        reviews = [r for r in (review, transition.decided_review if transition else None) if r is not None]
        kinds = [] if transition is None else [transition.tasks] if transition.tasks else []
        if transition is not None and transition.new_quarter:
            kinds.append(TaskKind.QBR)
        batches = [CreateTasksInput.for_partnership(p, kind, None, now) for kind in kinds]
        made = [task for batch in batches for task in self.tasks.tasks_for(batch)]
        closed = (
            [CloseTasksInput(task_ids=transition.cancelled_tasks, status="cancelled", by="engine", at=now)]
            if transition is not None and transition.cancelled_tasks
            else []
        )
        step = StepRecord(
            partnership_id=p.workflow_id,
            chain_id=p.workflow_id,
            snapshot=views.snapshot_of(p, now),
            reviews=reviews,
            closed_tasks=closed,
        )
        self.store.write_step(step, made, [])
        p.add_tasks([task.ref for task in made])
        return now

    # What people do, each checked by the same validator the workflow's Update runs.

    def sign(self, now: datetime) -> datetime:
        for signer in (US, PARTNER):
            request = SignRequest(signer=signer)
            assert self.p.problems_signing(request) == []
            transition = self.p.apply_signature(request, now)
        return self.record(now, transition)

    def pilots(self, *after: float) -> None:
        for i, value in enumerate(after):
            pilot = PilotResult(customer=f"Pilot {i + 1}", metric_before=20, metric_after=value, would_recommend=True)
            self._pilot(PilotResultRequest(recorded_by=US, pilot=pilot))
        self._pilot(PilotResultRequest(recorded_by=US, integration_can_scale=True))

    def _pilot(self, request: PilotResultRequest) -> None:
        assert self.p.problems_recording_pilot(request) == []
        self.p.apply_pilot_result(request)

    def walk(self, invited: int, adopted: int) -> None:
        request = WalkResultRequest(
            recorded_by=US, invited=invited, adopted=adopted, partner_promoting=True, support_manageable=True
        )
        assert self.p.problems_recording_walk(request) == []
        self.p.apply_walk_result(request)

    def scorecard(self, card: Scorecard) -> None:
        request = ScorecardRequest(recorded_by=US, scorecard=card)
        assert self.p.problems_recording_scorecard(request) == []
        self.p.apply_scorecard(request)

    def open_review(self) -> datetime:
        """The period ends: the gate review opens."""
        assert self.p.phase_ends_at is not None
        now = self.p.phase_ends_at
        return self.record(now, review=self.p.open_review(now))

    def decide(self, outcome: Outcome, after: timedelta, reason: str = "") -> datetime:
        assert self.p.review is not None
        now = self.p.review.opened_at + after
        request = DecisionRequest(reviewer=REVIEWER, outcome=outcome, reason=reason)
        assert self.p.problems_deciding(request) == []
        return self.record(now, self.p.apply_decision(request, now))

    def nobody_decides(self) -> datetime:
        assert self.p.review is not None
        now = self.p.review.policy_at
        return self.record(now, self.p.apply_policy_decision(now))

    def recommit(self, now: datetime) -> datetime:
        for signer in (US, PARTNER):
            request = RecommitRequest(signer=signer, roi_model_holds=True)
            assert self.p.problems_recommitting(request) == []
            transition = self.p.apply_recommitment(request, now)
        return self.record(now, transition)


def card(rag: Rag, deals: int, pipeline: int, revenue: int, notes: str = "") -> Scorecard:
    return Scorecard(
        deals_sourced=deals,
        pipeline_sourced=pipeline,
        revenue_closed=revenue,
        win_rate_pct=35,
        average_deal_size=revenue // max(deals, 1),
        active_engagements=deals + 2,
        certifications_completed=3,
        customer_satisfaction=8.4,
        integration_rate_pct=60,
        time_to_value_days=12,
        rag=rag,
        notes=notes,
    )


def begin(store: Store, slug: str, partner: str, time_scale: TimeScale = TimeScale()) -> Recorder:
    charter = example_charter(slug=slug, partner__name=partner)
    return Recorder(store, Partnership.begin(charter, time_scale, T0))


def seed(store: Store) -> None:
    day = timedelta(days=1)

    orbit = begin(store, "orbit", "Orbit Systems")
    orbit.sign(T0 + 2 * day)
    orbit.pilots(14, 15)
    orbit.open_review()
    orbit.decide(Outcome.GO, 3 * day)
    orbit.walk(invited=8, adopted=2)
    orbit.open_review()
    orbit.decide(Outcome.RESTART_CRAWL, 4 * day, reason="pick pilots with a real dashboard backlog")
    orbit.pilots(12, 13)
    orbit.open_review()
    orbit.decide(Outcome.GO, 2 * day)
    orbit.walk(invited=8, adopted=7)
    orbit.open_review()
    orbit.decide(Outcome.GO, 5 * day)
    assert orbit.p.step is Step.RECOMMITMENT

    kestrel = begin(store, "kestrel", "kestrel labs")  # lower case: the table sorts names as people read them
    kestrel.sign(T0 + 9 * day)
    kestrel.pilots(20, 19)
    kestrel.open_review()
    kestrel.nobody_decides()
    assert kestrel.p.step is Step.WINDING_DOWN

    acme = begin(store, "acme", "Acme Analytics")
    acme.sign(T0 + day)
    acme.pilots(18, 17)
    acme.open_review()
    acme.decide(Outcome.GO, day, reason="the pilots' own numbers undercount: go, and measure in Walk")
    acme.walk(invited=8, adopted=6)
    acme.open_review()
    now = acme.decide(Outcome.GO, 2 * day)
    acme.recommit(now + 3 * day)
    acme.scorecard(card(Rag.GREEN, deals=4, pipeline=250_000, revenue=90_000, notes="two | joint wins"))
    acme.open_review()
    acme.decide(Outcome.GO, 6 * day)
    acme.scorecard(card(Rag.AMBER, deals=2, pipeline=120_500, revenue=40_000))
    acme.open_review()
    acme.decide(Outcome.GO, 8 * day)
    assert acme.p.quarter == 3 and acme.p.step is Step.UNDERWAY

    lumen = begin(store, "lumen", "Lumen Co", TimeScale(seconds_per_week=60))
    lumen.sign(T0 + timedelta(minutes=5))
    lumen.pilots(14, 15)
    lumen.open_review()
    assert lumen.p.step is Step.GATE_REVIEW


@pytest.fixture(scope="module", params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The seeded store, once on each kind the engine supports."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
    engine = make_engine(url)
    seed(Store(engine))
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def db(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


@dataclass
class Rendered:
    markdown: str
    html: str
    md_tables: dict[str, list[list[str]]] = field(default_factory=dict)
    html_tables: dict[str, list[list[str]]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def report(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    out = tmp_path_factory.mktemp("reports")
    result = CliRunner().invoke(
        app, ["report", "--format", "both", "--output", str(out)], env={"DATABASE_URL": store_url}
    )
    assert result.exit_code == 0, result.output
    rendered = Rendered((out / "portfolio-report.md").read_text(), (out / "portfolio-report.html").read_text())
    rendered.md_tables = markdown_tables(rendered.markdown)
    rendered.html_tables = html_tables(rendered.html)
    return rendered


# ----------------------------------------------------------------- reading the report back


def markdown_tables(markdown: str) -> dict[str, list[list[str]]]:
    """Each table's data rows, by the heading above it (`## Partnerships`, `### Acme Analytics (acme), tier 2`)."""
    tables: dict[str, list[list[str]]] = {}
    heading, rows = "", None
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading, rows = line.lstrip("#").strip(), None
        elif line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if rows is None:
                rows = tables.setdefault(heading, [])  # the header row
            elif not all(re.fullmatch(r"-+:?", c) for c in cells):
                rows.append(cells)
        else:
            rows = None
    return tables


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr":
            self._row = []
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(html: str) -> dict[str, list[list[str]]]:
    """Each table's data rows (header cells are <th>, left out), by the table's id."""
    parser = _Tables()
    parser.feed(html)
    return {key: [[unescape(c) for c in row] for row in rows] for key, rows in parser.tables.items()}


# ----------------------------------------------------------------------- the store, by SQL


def rows(db: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with db.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(text(sql), params)]


def one(db: Engine, sql: str, **params: Any) -> Any:
    with db.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def stored_time(value: Any) -> datetime | None:
    """SQLite gives datetimes back as text, naive, in UTC; PostgreSQL as aware datetimes."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def shown_time(cell: str) -> datetime | None:
    if cell == "—":
        return None
    assert cell.endswith(" UTC"), cell
    shape = "%Y-%m-%d %H:%M:%S" if cell.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(cell.removesuffix(" UTC"), shape).replace(tzinfo=UTC)


def to_precision(moment: datetime | None, seconds: bool) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(microsecond=0) if seconds else moment.replace(second=0, microsecond=0)


def figure(cell: str) -> float | None:
    """`250,000`, `35 %`, `12 days`, `8.4`: the number a cell shows."""
    if cell in ("", "—"):
        return None
    return float(cell.replace(",", "").removesuffix(" %").removesuffix(" days"))


def rate(passes: int, attempts: int) -> str:
    return "—" if not attempts else f"{round(passes / attempts * 100, 1)} %"


# ---------------------------------------------------------------------------------- tests


def test_the_header_counts_every_partnership_and_says_how_many_are_rehearsals(db: Engine, report: Rendered) -> None:
    total = one(db, "SELECT COUNT(*) FROM partnerships")
    rehearsals = one(db, "SELECT COUNT(*) FROM partnerships WHERE rehearsal IS NOT NULL AND rehearsal != ''")
    assert (total, rehearsals) == (4, 1)
    statement = f"· {total} partnership(s), 1 of them a rehearsal in compressed time"
    assert statement in report.markdown and statement in report.html


def test_each_partnership_is_one_row_by_name_matching_its_store_row(db: Engine, report: Rendered) -> None:
    table = report.md_tables["Partnerships"]
    stored = rows(db, "SELECT * FROM partnerships ORDER BY lower(partner), slug")
    assert [row[:2] for row in table] == [[s["partner"], s["slug"]] for s in stored]
    assert [s["slug"] for s in stored] == ["acme", "kestrel", "lumen", "orbit"]
    for row, s in zip(table, stored, strict=True):
        _, slug, rehearsal, phase, step, rag, last_gate, decided, deadline, due = row
        assert rehearsal == ("no" if s["rehearsal"] == "" else s["rehearsal"]), slug
        assert (phase, step, rag) == (s["phase"].capitalize(), s["step"], (s["rag"] or "—").upper()), slug

        last = rows(
            db,
            "SELECT * FROM gate_reviews WHERE partnership_id = :id AND outcome IS NOT NULL "
            "ORDER BY decided_at DESC, opened_at DESC LIMIT 1",
            id=s["id"],
        )
        if not last:
            assert (last_gate, decided) == ("—", "—"), slug
        else:
            gate = re.fullmatch(r"(\w+): ([\w-]+)(?: \((.+)\))?", last_gate)
            assert gate is not None, last_gate
            marks = set((gate[3] or "").split(", ")) - {""}
            assert (gate[1], gate[2]) == (GATE_NAMES[last[0]["gate"]], last[0]["outcome"]), slug
            assert marks == {
                m
                for m, on in (("override", last[0]["overrides_failing_gate"]), ("by policy", last[0]["by_policy"]))
                if on
            }, slug
            assert decided == f"{stored_time(last[0]['decided_at']):%Y-%m-%d}", slug

        if s["step"] == "winding-down":
            # A wind-down's deadline is its earliest open wind-down task, in the task list.
            what = "wind-down task due"
            when = stored_time(
                one(
                    db,
                    "SELECT MIN(due_at) FROM tasks WHERE partnership_id = :id AND status = 'open' "
                    "AND kind IN ('exit', 'charter-expired')",
                    id=s["id"],
                )
            )
        else:
            what, when = s["next_deadline"], stored_time(s["next_deadline_at"])
        assert when is not None and due.endswith(" UTC"), slug
        assert (deadline, shown_time(due)) == (what, to_precision(when, seconds=bool(s["rehearsal"]))), slug


def test_the_table_shows_where_each_scenario_stands(report: Rendered) -> None:
    by_slug = {row[1]: row for row in report.md_tables["Partnerships"]}
    assert by_slug["orbit"][3:9] == [
        "Walk",
        "recommitment",
        "—",
        "Walk: go",
        by_slug["orbit"][7],
        "re-commitment expires",
    ]
    assert by_slug["kestrel"][3:7] == ["Exited", "winding-down", "—", "Crawl: no-go (by policy)"]
    assert by_slug["acme"][5:7] == ["AMBER", "QBR: go"] and by_slug["acme"][8] == "QBR opens"
    assert by_slug["lumen"][2].startswith("rehearsal: 1 week = 60 s")
    assert by_slug["lumen"][8] == "Crawl gate review decision due"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", by_slug["lumen"][9])  # a rehearsal's seconds count
    assert [row[2] for row in report.md_tables["Partnerships"]].count("no") == 3


def test_the_funnel_counts_partnerships_once_and_every_decided_review_as_an_attempt(
    db: Engine, report: Rendered
) -> None:
    funnel = {row[0]: row[1:] for row in report.md_tables["Gate funnel"]}
    assert list(funnel) == ["Crawl", "Walk", "Run"]
    entered = {
        "Crawl": one(db, "SELECT COUNT(DISTINCT partnership_id) FROM tasks WHERE kind = 'crawl-kickoff'"),
        "Walk": one(
            db, "SELECT COUNT(DISTINCT partnership_id) FROM gate_reviews WHERE gate = 'crawl' AND outcome = 'go'"
        ),
        "Run": one(db, "SELECT COUNT(DISTINCT partnership_id) FROM tasks WHERE kind = 'run-kickoff'"),
    }
    for name, gate in (("Crawl", "crawl"), ("Walk", "walk"), ("Run", "qbr")):
        count = "SELECT COUNT(*) FROM gate_reviews WHERE gate = :gate AND "
        attempts = one(db, count + "outcome IS NOT NULL", gate=gate)
        passes = one(db, count + "outcome = 'go'", gate=gate)
        by_policy = one(db, count + "outcome IS NOT NULL AND by_policy", gate=gate)
        still_open = one(db, count + "outcome IS NULL", gate=gate)
        if gate == "qbr":
            passed = only_by_override = "—"
        else:
            passed = str(
                one(
                    db,
                    "SELECT COUNT(DISTINCT partnership_id) FROM gate_reviews WHERE gate = :gate AND outcome = 'go'",
                    gate=gate,
                )
            )
            only_by_override = str(
                one(
                    db,
                    "SELECT COUNT(*) FROM (SELECT partnership_id FROM gate_reviews WHERE gate = :gate AND "
                    "outcome = 'go' GROUP BY partnership_id HAVING MIN(CASE WHEN overrides_failing_gate "
                    "THEN 1 ELSE 0 END) = 1) AS only_overridden",
                    gate=gate,
                )
            )
        expected = [str(entered[name]), passed, only_by_override, str(attempts), str(passes)]
        expected += [rate(passes, attempts), str(by_policy), str(still_open)]
        assert funnel[name] == expected, name
    # The case: Orbit's Walk failed once and passed later, Acme's passed at once: 2 of 3, not 100 %.
    assert funnel["Walk"][:7] == ["2", "2", "0", "3", "2", "66.7 %", "0"]
    assert funnel["Crawl"][3:] == ["4", "3", "75.0 %", "1", "1"]


def test_the_median_stays_are_the_ones_the_decision_record_dates(db: Engine, report: Rendered) -> None:
    """Each phase begins with its kickoff tasks or the decision that opened it, and ends when the next begins."""
    stays: dict[str, list[float]] = {"charter": [], "crawl": [], "walk": [], "run": []}
    for p in rows(db, "SELECT * FROM partnerships"):
        starts = [(stored_time(p["started_at"]), "charter")]
        starts += [
            (stored_time(t["created"]), {"crawl-kickoff": "crawl", "run-kickoff": "run"}[t["kind"]])
            for t in rows(
                db,
                "SELECT kind, MIN(created_at) AS created FROM tasks WHERE partnership_id = :id "
                "AND kind IN ('crawl-kickoff', 'run-kickoff') GROUP BY kind",
                id=p["id"],
            )
        ]
        entered_by = {("crawl", "go"): "walk", ("walk", "restart-crawl"): "crawl", ("walk", "go"): "recommitment"}
        starts += [
            (stored_time(r["decided_at"]), entered_by[(r["gate"], r["outcome"])])
            for r in rows(db, "SELECT * FROM gate_reviews WHERE partnership_id = :id", id=p["id"])
            if (r["gate"], r["outcome"]) in entered_by
        ]
        starts.sort(key=lambda s: s[0])
        ended = stored_time(p["phase_started_at"]) if p["phase"] in ("exited", "completed") else None
        ends = [s[0] for s in starts[1:]] + [ended]
        for (begun, phase), end in zip(starts, ends, strict=True):
            if end is not None and phase in stays:
                stays[phase].append((end - begun).total_seconds() / 86_400)
    table = {row[0]: row[1:] for row in report.md_tables["Median time in each phase"]}
    for phase, days in stays.items():
        shown_median, shown_count = table[phase.capitalize()]
        assert int(shown_count) == len(days), phase
        if not days:
            assert shown_median == "—", phase
        elif statistics.median(days) >= 1:
            assert shown_median == f"{statistics.median(days):.1f} days", phase
    assert {phase: len(days) for phase, days in stays.items()} == {"charter": 4, "crawl": 4, "walk": 3, "run": 0}


def test_every_recorded_qbr_is_a_scorecard_row_under_its_partnership(db: Engine, report: Rendered) -> None:
    qbrs = rows(
        db,
        "SELECT r.*, p.partner, p.slug, p.tier FROM gate_reviews r JOIN partnerships p ON p.id = r.partnership_id "
        "WHERE r.gate = 'qbr' ORDER BY p.slug, r.opened_at",
    )
    assert len(qbrs) == 2
    sections = {q["slug"]: f"{q['partner']} ({q['slug']}), tier {q['tier']}" for q in qbrs}
    scored = [heading for heading in report.md_tables if ", tier " in heading]
    assert scored == list(sections.values())
    numbers = (
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
    )
    for slug, heading in sections.items():
        table = report.md_tables[heading]
        own = [q for q in qbrs if q["slug"] == slug]
        assert len(table) == len(own)
        for number, (row, q) in enumerate(zip(table, own, strict=True), start=1):
            opened = stored_time(q["opened_at"])
            assert opened is not None
            scorecard = json.loads(q["evidence_json"])["scorecard"]
            assert row[:3] == [str(number), f"{opened.year}-Q{(opened.month - 1) // 3 + 1}", scorecard["rag"].upper()]
            assert [figure(cell) for cell in row[3:13]] == [float(scorecard[key]) for key in numbers]
            assert row[13:] == [q["outcome"] or "open", scorecard["notes"]]
    assert report.md_tables[sections["acme"]][0][14] == "two | joint wins"


def test_the_html_report_states_the_same_rows_and_figures(report: Rendered) -> None:
    md, html = report.md_tables, report.html_tables
    assert html["partnerships"] == md["Partnerships"]
    assert html["funnel"] == md["Gate funnel"]
    assert html["phase-times"] == md["Median time in each phase"]
    scored = [heading for heading in md if ", tier " in heading]
    for heading in scored:
        slug = re.fullmatch(r".* \((.+)\), tier \d", heading)
        assert slug is not None
        assert html[f"scorecards-{slug[1]}"] == md[heading]
    assert '<tr class="rehearsal">' in report.html
