"""`partnerships what-if` on a real store: every flip and both funnels, worked out by hand.

The store is written the way the worker writes it (each step through `Store.write_step`, the
kickoff tasks made from `charters/tasks.yaml`), by five partnerships driven through the pure
lifecycle, one every 150 days from 5 January 2026 so that `--since` can cut between them.
Reviewers are Dana Reyes and Lee Park; each gate's quorum is "any" unless said otherwise.

- alpha: Crawl pilots +25 % and +22 %, go by Lee; Walk 8 of 10, go by Lee; in Run, one QBR go by Lee.
- beta (quorum "all"): Crawl +30 % and +30 %, go by Dana and Lee; Walk 7 of 10, go by both; in Run.
- gamma: Crawl +25 % and +22 %, nobody decided: go by policy; Walk 10 of 10, go by Lee; in Run.
- delta (written by an older release: no full review on record): Crawl +30 %/+30 %, go by Lee; in Walk.
- zeta: Crawl +10 % and +10 %, nobody decided: no-go by policy; exited.

Under `--crawl-min-improvement 23 --walk-min-adoption 75 --quorum majority` (majority of two
reviewers is both):

| review | recorded | what-if | why |
|---|---|---|---|
| alpha Crawl | rec go; go by Lee | rec no-go; no quorum → policy no-go | 22 % < 23 %; 1 of 2 votes |
| alpha Walk | rec go; go by Lee | rec go; no quorum → policy go | 1 of 2 votes |
| alpha QBR | rec go; go by Lee | rec go; no quorum → policy go | 1 of 2 votes |
| beta Walk | rec go; go by both | rec restart-crawl; go (override) by both | 70 % < 75 %; no reason written |
| gamma Crawl | rec go; go by policy | rec no-go; no-go by policy | 22 % < 23 % |
| gamma Walk | rec go; go by Lee | rec go; no quorum → policy go | 1 of 2 votes |

beta's Crawl (both voted go, 30 % ≥ 23 %) and zeta's Crawl (no-go by policy either way) do not
flip: 8 reviews judged, 6 flips, delta's one skipped. alpha and gamma would be no-go at Crawl,
so their funnels stop there.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from partnerships.adapters.config import REPO_ROOT
from partnerships.adapters.store import Store, make_engine
from partnerships.adapters.templates import TaskList, load_task_templates, make_environment
from partnerships.cli.app import app
from partnerships.domain import views
from partnerships.domain.gates import Outcome, PilotResult, Rag
from partnerships.domain.lifecycle import (
    DecisionRequest,
    GateReview,
    Partnership,
    PilotResultRequest,
    RecommitRequest,
    ScorecardRequest,
    SignRequest,
    TaskKind,
    TimeScale,
    Transition,
    WalkResultRequest,
)
from partnerships.engine.contracts import CloseTasksInput, CreateTasksInput, StepRecord
from tests.helpers import PARTNER, REVIEWER, US, example_charter, scorecard

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SPACING = timedelta(days=150)
TEMPLATES = REPO_ROOT / "charters"
RULES = ["--crawl-min-improvement", "23", "--walk-min-adoption", "75", "--quorum", "majority"]
DANA, LEE = "Dana Reyes", "Lee Park"
BOTH = f"{DANA} and {LEE}"


# ------------------------------------------------------------ the store, as the worker writes it


class Recorder:
    """One partnership driven through the pure lifecycle, each step written as the worker writes it."""

    def __init__(self, store: Store, slug: str, start: datetime, **charter: Any) -> None:
        self.store = store
        self.p = Partnership.begin(example_charter(slug=slug, **charter), TimeScale(), start)
        self.now = start
        self.tasks = TaskList(make_environment(TEMPLATES), load_task_templates(TEMPLATES))
        self.record()

    def later(self, days: float = 1) -> datetime:
        self.now += timedelta(days=days)
        return self.now

    def record(self, transition: Transition | None = None, review: GateReview | None = None) -> None:
        p, now = self.p, self.now
        reviews = [r for r in (review, transition.decided_review if transition else None) if r is not None]
        kinds = [transition.tasks] if transition is not None and transition.tasks else []
        if transition is not None and transition.new_quarter:
            kinds.append(TaskKind.QBR)
        made = [
            task
            for kind in kinds
            for task in self.tasks.tasks_for(CreateTasksInput.for_partnership(p, kind, None, now))
        ]
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

    # What people do, each checked by the same validator the workflow's Update runs.

    def sign(self) -> Recorder:
        for signer in (US, PARTNER):
            request = SignRequest(signer=signer)
            assert self.p.problems_signing(request) == []
            transition = self.p.apply_signature(request, self.later())
        self.record(transition)
        return self

    def pilots(self, *after: float) -> Recorder:
        # Time to first dashboard, lower is better, from 20 h: 15 h is +25 %, 15.6 h +22 %, 14 h +30 %.
        requests = [
            PilotResultRequest(
                recorded_by=US,
                pilot=PilotResult(customer=f"Pilot {n}", metric_before=20, metric_after=value, would_recommend=True),
            )
            for n, value in enumerate(after, start=1)
        ]
        for request in [*requests, PilotResultRequest(recorded_by=US, integration_can_scale=True)]:
            assert self.p.problems_recording_pilot(request) == []
            self.p.apply_pilot_result(request)
        return self

    def walk(self, invited: int, adopted: int) -> Recorder:
        request = WalkResultRequest(
            recorded_by=US, invited=invited, adopted=adopted, partner_promoting=True, support_manageable=True
        )
        assert self.p.problems_recording_walk(request) == []
        self.p.apply_walk_result(request)
        return self

    def quarter(self) -> Recorder:
        request = ScorecardRequest(recorded_by=US, scorecard=scorecard(Rag.GREEN))
        assert self.p.problems_recording_scorecard(request) == []
        self.p.apply_scorecard(request)
        return self

    def review(self) -> Recorder:
        self.later(30)
        self.record(review=self.p.open_review(self.now))
        return self

    def vote(self, *reviewers: str, outcome: Outcome = Outcome.GO) -> Recorder:
        for reviewer in reviewers:
            request = DecisionRequest(reviewer=reviewer, outcome=outcome)
            assert self.p.problems_deciding(request) == []
            self.record(self.p.apply_decision(request, self.later()))
        return self

    def nobody_decides(self) -> Recorder:
        assert self.p.review is not None
        self.now = self.p.review.policy_at
        self.record(self.p.apply_policy_decision(self.now))
        return self

    def recommit(self) -> Recorder:
        for signer in (US, PARTNER):
            transition = self.p.apply_recommitment(RecommitRequest(signer=signer, roi_model_holds=True), self.later())
        self.record(transition)
        return self


def seed(store: Store) -> dict[str, Recorder]:
    def start(n: int) -> datetime:
        return T0 + n * SPACING

    alpha = Recorder(store, "alpha", start(0)).sign().pilots(15, 15.6).review().vote(REVIEWER)
    alpha.walk(10, 8).review().vote(REVIEWER).recommit().quarter().review().vote(REVIEWER)
    beta = Recorder(store, "beta", start(1), governance__quorum="all").sign().pilots(14, 14).review()
    beta.vote(US, REVIEWER).walk(10, 7).review().vote(US, REVIEWER).recommit()
    gamma = Recorder(store, "gamma", start(2)).sign().pilots(15, 15.6).review().nobody_decides()
    gamma.walk(10, 10).review().vote(REVIEWER).recommit()
    delta = Recorder(store, "delta", start(3)).sign().pilots(14, 14).review().vote(REVIEWER)
    zeta = Recorder(store, "zeta", start(4)).sign().pilots(18, 18).review().nobody_decides()
    assert zeta.p.ended
    # An older release wrote delta's reviews: without the whole review, nothing to judge again.
    with store.writing() as session:
        session.execute(text("UPDATE gate_reviews SET review_json = NULL WHERE partnership_id = 'partnership-delta'"))
        session.commit()
    return {r.p.charter.slug: r for r in (alpha, beta, gamma, delta, zeta)}


@dataclass(frozen=True)
class Seeded:
    url: str
    path: Path
    stories: dict[str, Recorder]

    def decided_on(self, slug: str, gate: str) -> str:
        """The day the partnership's (last) review of `gate` was decided, as the store says."""
        rows = sqlite3.connect(self.path).execute(
            "SELECT decided_at FROM gate_reviews WHERE partnership_id = ? AND gate = ? ORDER BY decided_at",
            (f"partnership-{slug}", gate),
        )
        return str(rows.fetchall()[-1][0])[:10]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    path = tmp_path_factory.mktemp("what-if") / "store.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    stories = seed(Store(engine))
    engine.dispose()
    yield Seeded(url, path, stories)


def run(seeded: Seeded, *args: str, columns: int = 80) -> Any:
    return CliRunner().invoke(
        app, ["what-if", *args], env={"DATABASE_URL": seeded.url, "COLUMNS": str(columns), "LINES": "40"}
    )


def what_if_json(seeded: Seeded, *args: str) -> dict[str, Any]:
    result = run(seeded, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------------- what the flips are

# (slug, gate, recorded rec, recorded decision, what-if rec, what-if decision), by decision time.
EXPECTED_FLIPS = [
    ("alpha", "crawl", "go", f"go by {LEE}", "no-go", "no quorum: by policy → no-go"),
    ("alpha", "walk", "go", f"go by {LEE}", "go", "no quorum: by policy → go"),
    ("alpha", "qbr", "go", f"go by {LEE}", "go", "no quorum: by policy → go"),
    ("beta", "walk", "go", f"go by {BOTH}", "restart-crawl", f"go (override) by {BOTH}"),
    ("gamma", "crawl", "go", "go by policy", "no-go", "no-go by policy"),
    ("gamma", "walk", "go", f"go by {LEE}", "go", "no quorum: by policy → go"),
]
LABELS = {"crawl": "Crawl gate review", "walk": "Walk gate review", "qbr": "Run (quarter 1) gate review"}

# (stage, entered, passed, overrides, attempts, passes, by policy, open)
RECORDED_FUNNEL = [
    ("crawl", 5, 4, 0, 5, 4, 2, 0),  # zeta failed; gamma and zeta by policy
    ("walk", 4, 3, 0, 3, 3, 0, 0),  # delta is in Walk, undecided
    ("run", 3, None, 0, 1, 1, 0, 0),  # alpha's one QBR
]
WHAT_IF_FUNNEL = [
    ("crawl", 5, 2, 0, 5, 2, 3, 0),  # only beta and delta (not judged) pass; alpha now by policy too
    ("walk", 2, 1, 1, 1, 1, 0, 0),  # alpha and gamma never get there; beta passes by override
    ("run", 1, None, 0, 0, 0, 0, 0),  # beta only, no QBR yet
]


def figures(stages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("stage", "entered", "passed", "overrides", "attempts", "passes", "by_policy", "open")
    return [tuple(stage[k] for k in keys) for stage in stages]


def test_json_lists_every_flip_as_worked_out_by_hand(seeded: Seeded) -> None:
    data = what_if_json(seeded, *RULES)

    assert data["note"] == "Nothing running changes: this reads the store only."
    assert data["rules"] == {"crawl_min_improvement_pct": 23.0, "walk_min_adoption_pct": 75.0, "quorum": "majority"}
    assert (data["judged"], data["skipped"], data["since"]) == (8, 1, None)
    flips = [
        (
            f["slug"],
            f["gate"],
            f["recorded"]["recommendation"],
            f["recorded"]["describe"],
            f["what_if"]["recommendation"],
            f["what_if"]["describe"],
        )
        for f in data["flips"]
    ]
    assert flips == EXPECTED_FLIPS
    for flip in data["flips"]:
        assert flip["label"] == LABELS[flip["gate"]]
        assert flip["decided_at"][:10] == seeded.decided_on(flip["slug"], flip["gate"])
        assert flip["what_if"]["quorum"] == "majority"
    by_review = {(f["slug"], f["gate"]): f for f in data["flips"]}
    assert by_review["alpha", "crawl"]["flips"] == {"recommendation": True, "decision": True, "becomes_override": False}
    assert by_review["alpha", "walk"]["flips"] == {"recommendation": False, "decision": True, "becomes_override": False}
    assert by_review["beta", "walk"]["flips"] == {"recommendation": True, "decision": False, "becomes_override": True}
    assert by_review["beta", "walk"]["what_if"]["needs_written_reason"] is True
    assert by_review["beta", "walk"]["why"] == [
        "recommendation go → restart-crawl: adoption fails: 7 of 10 (70.0 %) (needs ≥ 75 %)",
        "a go over a failing gate (adoption): would need a written reason",
    ]
    assert by_review["alpha", "crawl"]["why"] == [
        "recommendation go → no-go: improvement fails: Pilot 1 +25.0 %, Pilot 2 +22.0 % (needs ≥ 23 % for every pilot)",
        f"the votes ({LEE} go) do not reach majority: policy applies the recommendation",
    ]


def test_json_funnels_under_the_recorded_and_the_new_rules(seeded: Seeded) -> None:
    data = what_if_json(seeded, *RULES)

    assert figures(data["funnel"]["recorded"]) == RECORDED_FUNNEL
    assert figures(data["funnel"]["what_if"]) == WHAT_IF_FUNNEL


def test_the_recorded_funnel_is_the_reports(seeded: Seeded, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--format", "md", "--output", str(tmp_path)], env={"DATABASE_URL": seeded.url}
    )
    assert result.exit_code == 0, result.output
    report = (tmp_path / "portfolio-report.md").read_text()
    section = report.split("## Gate funnel")[1].split("\n## ")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    # gate, entered, passed, passed only by override, attempts, passes, pass rate, by policy, open
    stated = [(r[0].lower(), r[1], r[2], r[3], r[4], r[5], r[7], r[8]) for r in rows[1:]]
    # The report shows "—" where Run has no pass (and so no override) of its own.
    expected = [
        (stage, str(entered), "—", "—", str(attempts), str(passes), str(policy), str(open_))
        if passed is None
        else (stage, str(entered), str(passed), str(overrides), str(attempts), str(passes), str(policy), str(open_))
        for stage, entered, passed, overrides, attempts, passes, policy, open_ in RECORDED_FUNNEL
    ]
    assert stated == expected


def test_the_rules_on_record_flip_nothing(seeded: Seeded) -> None:
    for args in ([], ["--crawl-min-improvement", "20", "--walk-min-adoption", "70"]):
        data = what_if_json(seeded, *args)
        assert (data["judged"], data["skipped"], data["flips"]) == (8, 1, [])
        assert figures(data["funnel"]["what_if"]) == figures(data["funnel"]["recorded"]) == RECORDED_FUNNEL


def test_since_judges_only_reviews_decided_on_or_after_that_day(seeded: Seeded) -> None:
    since = seeded.decided_on("gamma", "crawl")  # gamma's first decision: gamma, delta and zeta follow

    data = what_if_json(seeded, *RULES, "--since", since)

    assert data["since"] == since
    assert (data["judged"], data["skipped"]) == (3, 1)  # gamma's two and zeta's; delta's has no record
    assert [(f["slug"], f["gate"]) for f in data["flips"]] == [("gamma", "crawl"), ("gamma", "walk")]
    # alpha and beta keep their recorded outcomes; gamma stops at Crawl.
    assert figures(data["funnel"]["what_if"]) == [
        ("crawl", 5, 3, 0, 5, 3, 2, 0),
        ("walk", 3, 2, 0, 2, 2, 0, 0),
        ("run", 2, None, 0, 1, 1, 0, 0),
    ]
    later = what_if_json(seeded, *RULES, "--since", "2030-01-01")
    assert (later["judged"], later["skipped"], later["flips"]) == (0, 0, [])


# ---------------------------------------------------------------------- what a person sees


def test_an_80_column_terminal_shows_each_flip_and_both_funnels(seeded: Seeded) -> None:
    result = run(seeded, *RULES)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if len(line) > 80] == []
    assert lines[0] == "What if: Crawl ≥ 23 % · Walk ≥ 75 % · quorum majority at every gate"
    assert lines[1] == "Nothing running changes: this reads the store only."
    flat = " ".join(result.stdout.split())
    assert "8 decided gate review(s) judged again: 6 would flip. 1 skipped: written by an older release" in flat
    headings = [line for line in lines if " · decided " in line]
    assert headings == [
        f"{slug} · {LABELS[gate]} · decided {seeded.decided_on(slug, gate)}" for slug, gate, *_ in EXPECTED_FLIPS
    ]
    for heading, (_, _, rec_before, before, rec_after, after) in zip(headings, EXPECTED_FLIPS, strict=True):
        block = lines[lines.index(heading) + 1 :][:2]
        arrow = "→" if rec_before != rec_after else "="
        assert block[0] == f"  recommendation: {rec_before} {arrow} {rec_after}"
        assert block[1] == f"  decision: {before} → {after}" or block[1].startswith(f"  decision: {before} → ")

    funnel = {cells[0]: cells[1:] for cells in table_rows(lines) if cells and cells[0].endswith(("gate", "QBRs)"))}
    assert funnel == {
        "Crawl gate": ["5 → 5", "4 → 2", "0 → 0", "4/5 → 2/5", "2 → 3"],
        "Walk gate": ["4 → 2", "3 → 1", "0 → 1", "3/3 → 1/1", "0 → 0"],
        "Run (QBRs)": ["3 → 1", "—", "—", "1/1 → 0/0", "0 → 0"],
    }


def table_rows(lines: list[str]) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("│ ").split("│")] for line in lines if line.startswith("│")]


def test_a_wide_terminal_shows_the_flips_as_a_table(seeded: Seeded) -> None:
    result = run(seeded, *RULES, columns=200)

    assert result.exit_code == 0, result.output
    assert "Would flip" in result.stdout
    rows = table_rows(result.stdout.splitlines())
    first_lines = [cells for cells in rows if cells[0] in {"alpha", "beta", "gamma"}]
    assert [(cells[0], cells[1], cells[2]) for cells in first_lines] == [
        (slug, LABELS[gate], seeded.decided_on(slug, gate)) for slug, gate, *_ in EXPECTED_FLIPS
    ]
    assert [(cells[3], cells[4]) for cells in first_lines] == [
        (f"rec {rec_before}", f"rec {rec_after}") for _, _, rec_before, _, rec_after, _ in EXPECTED_FLIPS
    ]


def test_what_if_writes_nothing(seeded: Seeded) -> None:
    def dump() -> list[str]:
        with sqlite3.connect(seeded.path) as connection:
            return list(connection.iterdump())

    before = dump()
    assert run(seeded, *RULES).exit_code == 0
    assert run(seeded, *RULES, "--json").exit_code == 0
    assert dump() == before


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--quorum", "5 of 2"], ["error: --quorum: '5 of 2': N of M needs 1 ≤ N ≤ M"]),
        (["--since", "yesterday"], ["error: --since: 'yesterday' is not a date; write it as YYYY-MM-DD (UTC)"]),
        (["--walk-min-adoption", "150"], ["error: --walk-min-adoption: 150 is not a percentage from 0 to 100"]),
        (
            [
                "--quorum",
                "5 of 2",
                "--since",
                "2026-02-30",
                "--walk-min-adoption",
                "150",
                "--crawl-min-improvement",
                "x",
            ],
            [
                "error: --crawl-min-improvement: 'x' is not a number of percent",
                "error: --walk-min-adoption: 150 is not a percentage from 0 to 100",
                "error: --quorum: '5 of 2': N of M needs 1 ≤ N ≤ M",
                "error: --since: '2026-02-30' is not a date; write it as YYYY-MM-DD (UTC)",
            ],
        ),
        (
            ["--quorum", "most"],
            [
                "error: --quorum: 'most' is not a quorum rule: "
                "use any, majority, all, one-per-side, or N of M (e.g. 2 of 3)"
            ],
        ),
    ],
)
def test_bad_input_is_one_line_per_problem_naming_the_option(
    seeded: Seeded, args: list[str], expected: list[str]
) -> None:
    result = run(seeded, *args)

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == expected
    assert "Traceback" not in result.output
