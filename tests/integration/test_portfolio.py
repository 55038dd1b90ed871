"""The portfolio from Temporal visibility: `partnerships list` filters, `show`, on the real dev server.

Each test seeds its own partnerships under a partner-name prefix of its own, so the
other tests' workflows on the shared dev server never count. Visibility is eventually
consistent: every expectation is polled until it holds, with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client
from typer.testing import CliRunner

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.cli.app import app
from partnerships.domain.gates import Outcome, Rag
from partnerships.domain.lifecycle import ExitRequest, Step, TimeScale
from partnerships.service import commands as service
from tests.helpers import (
    US,
    act,
    at,
    complete_task,
    decide,
    example_charter,
    reach_walk_review,
    recommit_both,
    record_pilots,
    record_scorecard,
    running_worker,
    sign_both,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow

# Slow enough that a partnership stays where it was put for the whole test.
STILL = TimeScale(seconds_per_week=3600)
# Periods in seconds, people's windows (signing, reviews) in minutes: no policy pre-empts the test.
PEOPLE_TAKE_THEIR_TIME = TimeScale(seconds_per_week=0.5, review_window_seconds=600)
QUICK_QUARTERS = TimeScale(seconds_per_week=0.25, review_window_seconds=600)
VISIBILITY_DEADLINE = 20.0


def unique_prefix() -> str:
    return f"Pf{uuid.uuid4().hex[:8]}"


async def listed(client: Client, expected: set[str], **filters: Any) -> list[dict[str, Any]]:
    """Poll visibility until exactly `expected` (slugs) match the filters."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + VISIBILITY_DEADLINE
    while True:
        rows = await service.list_partnerships(client, **filters)
        slugs = {row["slug"] for row in rows}
        if slugs == expected or loop.time() > deadline:
            assert slugs == expected, f"filters {filters}"
            return rows
        await asyncio.sleep(0.2)


async def cli(settings: Settings, client: Client, *args: str) -> tuple[int, str]:
    """Run a `partnerships` command in-process, on a thread of its own (it runs its own event loop).

    In-process rather than the executable: a short-lived Temporal client process sometimes
    aborts while the interpreter shuts down (temporalio/sdk-python#300), which is not what
    these tests are about.
    """
    environment = {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "DATABASE_URL": settings.store_url,
        "PARTNERSHIPS_TASK_QUEUE": settings.task_queue,
        "COLUMNS": "220",
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=environment)
    return result.exit_code, result.output


class Portfolio:
    """Seeds partnerships in chosen phases; remembers each one's slug by a short name."""

    def __init__(self, client: Client, settings: Settings, prefix: str) -> None:
        self.client, self.settings, self.prefix = client, settings, prefix
        self.slugs: dict[str, str] = {}

    async def seed(
        self, name: str, tier: int, scale: TimeScale, drive: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        charter = example_charter(partner__name=f"{self.prefix} {name}", tier=tier)
        self.slugs[name] = charter.slug
        await start(self.client, self.settings, charter, scale)
        if drive is not None:
            await drive(charter.slug)

    def __call__(self, *names: str) -> set[str]:
        return {self.slugs[name] for name in names}


async def test_list_filters_return_exactly_the_matching_partnerships(
    client: Client, settings: Settings, store: Store
) -> None:
    portfolio = Portfolio(client, settings, unique_prefix())

    async def in_crawl(slug: str) -> None:
        await sign_both(client, slug)

    async def in_walk(slug: str) -> None:
        await sign_both(client, slug)
        await record_pilots(client, slug)
        await wait_for(client, slug, at("crawl", Step.GATE_REVIEW))
        await decide(client, slug, Outcome.GO)
        await wait_for(client, slug, at("walk", Step.UNDERWAY))

    def in_run(rag: Rag) -> Callable[[str], Awaitable[None]]:
        async def drive(slug: str) -> None:
            await reach_walk_review(client, slug)
            await decide(client, slug, Outcome.GO)
            await recommit_both(client, slug)
            await wait_for(client, slug, at("run", Step.UNDERWAY))
            await record_scorecard(client, slug, rag)

        return drive

    async def closed(slug: str) -> None:
        await act(client, slug, PartnershipWorkflow.exit, ExitRequest(by=US, reason="never signed"))
        status = await wait_for(client, slug, lambda s: bool(s.partnership.open_tasks))
        for task in status.partnership.open_tasks:
            await complete_task(client, task.id)
        await wait_for(client, slug, lambda s: s.partnership.closed)

    async with running_worker(client, settings, store):
        await asyncio.gather(
            portfolio.seed("Alpha", 2, STILL),
            portfolio.seed("Bravo", 3, STILL, in_crawl),
            portfolio.seed("Charlie", 1, STILL, in_crawl),
            portfolio.seed("Delta", 3, PEOPLE_TAKE_THEIR_TIME, in_walk),
            portfolio.seed("Echo", 2, STILL, closed),
            portfolio.seed("Foxtrot", 2, QUICK_QUARTERS, in_run(Rag.RED)),
            portfolio.seed("Golf", 1, QUICK_QUARTERS, in_run(Rag.GREEN)),
        )
        mine = portfolio.prefix
        everyone_open = portfolio("Alpha", "Bravo", "Charlie", "Delta", "Foxtrot", "Golf")
        rows = await listed(client, everyone_open, partner=mine)
        await listed(client, everyone_open | portfolio("Echo"), partner=mine, include_closed=True)
        await listed(client, portfolio("Alpha"), partner=mine, phase="charter")
        await listed(client, portfolio("Bravo", "Charlie"), partner=mine, phase="crawl")
        await listed(client, portfolio("Delta"), partner=mine, phase="walk")
        await listed(client, portfolio("Foxtrot", "Golf"), partner=mine, phase="run")
        await listed(client, portfolio("Echo"), partner=mine, phase="exited", include_closed=True)
        await listed(client, portfolio("Bravo", "Delta"), partner=mine, tier=3)
        await listed(client, portfolio("Charlie"), partner=mine, tier=1, phase="crawl")
        await listed(client, portfolio("Foxtrot"), partner=mine, rag="red")
        await listed(client, portfolio("Golf"), partner=mine, rag="green")
        await listed(client, portfolio("Delta"), partner=f"{mine} Del")

        by_slug = {row["slug"]: row for row in rows}
        alpha, bravo = by_slug[portfolio.slugs["Alpha"]], by_slug[portfolio.slugs["Bravo"]]
        assert (alpha["phase"], alpha["step"], alpha["tier"]) == ("charter", "signing", 2)
        # Waiting for signatures: the deadline is the charter's expiry, 60 days after it was sent.
        assert alpha["next_deadline"] is not None and alpha["phase_started_at"] is not None
        assert (bravo["phase"], bravo["step"], bravo["overdue"]) == ("crawl", "underway", False)
        assert bravo["seconds_in_phase"] >= 0 and bravo["next_deadline"] > bravo["phase_started_at"]

        code, output = await cli(settings, client, "list", "--partner", mine, "--tier", "3", "--json")
        assert code == 0, output
        assert {row["slug"] for row in json.loads(output)} == portfolio("Bravo", "Delta")
        code, output = await cli(settings, client, "list", "--partner", mine, "--rag", "red")
        assert code == 0, output
        for text in ("time in phase", "next deadline", "last gate", portfolio.slugs["Foxtrot"], "run · ", "red"):
            assert text in output
        assert portfolio.slugs["Golf"] not in output


async def test_overdue_lists_gate_reviews_past_their_deadline_and_partnerships_with_tasks_past_due(
    client: Client, settings: Settings, store: Store
) -> None:
    portfolio = Portfolio(client, settings, unique_prefix())
    # A week lasts two seconds: Crawl ends after 8 s; the reviewers have 15 s, and the policy
    # decides 15 s after that: seconds to spare between "overdue" and "decided by policy".
    unhurried = TimeScale(seconds_per_week=2.0, review_window_seconds=15)
    # Half-second weeks: the Crawl kickoff tasks nobody does fall due within a second.
    hurried = TimeScale(seconds_per_week=0.5, review_window_seconds=600)

    async def in_crawl_review_with_its_tasks_done(slug: str) -> None:
        await sign_both(client, slug)
        tasks = await wait_for(client, slug, lambda s: len(s.partnership.open_tasks) == 3)
        for task in tasks.partnership.open_tasks:
            await complete_task(client, task.id)
        await record_pilots(client, slug)

    async with running_worker(client, settings, store):
        await asyncio.gather(
            portfolio.seed("Reviewing", 2, unhurried, in_crawl_review_with_its_tasks_done),
            portfolio.seed("Underway", 2, STILL, sign_both_of(client)),
            portfolio.seed("Late", 2, hurried, sign_both_of(client)),
        )
        status = await wait_for(client, portfolio.slugs["Reviewing"], at("crawl", Step.GATE_REVIEW))
        review = status.partnership.review
        assert review is not None
        mine = portfolio.prefix
        late = await wait_for(client, portfolio.slugs["Late"], lambda s: len(s.partnership.overdue_tasks) == 3)
        assert late.partnership.review is None or late.partnership.review.remind_at > datetime.now(UTC)
        await listed(client, portfolio("Reviewing", "Underway", "Late"), partner=mine, phase="crawl")
        just_before, just_after = review.remind_at - timedelta(seconds=1), review.remind_at + timedelta(seconds=1)
        rows = await listed(client, portfolio("Late"), partner=mine, overdue=True, now=just_before)
        assert rows[0]["overdue_tasks"] == 3 and rows[0]["overdue"] is False
        await listed(client, portfolio("Reviewing", "Late"), partner=mine, overdue=True, now=just_after)

        # And on the real clock, once the reviewers' deadline has passed (the policy decides later).
        await asyncio.sleep(max(0.0, (review.remind_at - datetime.now(UTC)).total_seconds() + 0.2))
        rows = await listed(client, portfolio("Reviewing", "Late"), partner=mine, overdue=True)
        reviewing = next(r for r in rows if r["slug"] == portfolio.slugs["Reviewing"])
        assert reviewing["overdue"] is True and reviewing["step"] == "gate-review"
        assert reviewing["overdue_tasks"] == 0


def sign_both_of(client: Client) -> Callable[[str], Awaitable[None]]:
    async def drive(slug: str) -> None:
        await sign_both(client, slug)

    return drive


async def test_bad_list_filters_are_one_line_each(client: Client, settings: Settings) -> None:
    code, output = await cli(settings, client, "list", "--phase", "nap", "--tier", "7", "--rag", "purple")
    assert code == 1
    assert output.strip().splitlines() == [
        "error: --phase: 'nap' is not a phase (charter, crawl, walk, run, exited, completed)",
        "error: --tier: 7 is not a tier (1, 2, 3)",
        "error: --rag: 'purple' is not a RAG status (red, amber, green)",
    ]


async def test_show_tells_the_whole_story_of_one_partnership(client: Client, settings: Settings, store: Store) -> None:
    charter = example_charter()
    slug = charter.slug
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale(seconds_per_week=0.25))
        await sign_both(client, slug)
        await record_pilots(client, slug, after=(14, 19))  # the second pilot is only 5 % better
        await wait_for(client, slug, at("crawl", Step.GATE_REVIEW))
        override = "Hooli's metric was measured before their rollout finished"
        await decide(client, slug, Outcome.GO, reason=override)
        await wait_for(client, slug, lambda s: any(t.kind.value == "walk-kickoff" for t in s.partnership.open_tasks))
        code, output = await cli(settings, client, "show", slug, "--json")
        assert code == 0, output
        record = json.loads(output)
        assert [s["email"] for s in record["signatures"]] == ["dana@ourco.example", "sam@acme.example"]
        assert [p["phase"] for p in record["phases"]] == ["charter", "crawl", "walk"]
        crawl_began = datetime.fromisoformat(record["phases"][1]["started_at"])
        assert crawl_began == datetime.fromisoformat(record["signatures"][1]["signed_at"])
        (crawl_review,) = record["reviews"]
        assert crawl_review["gate"] == "crawl" and crawl_review["recommendation"] == "no-go"
        assert [p["customer"] for p in crawl_review["evidence"]["pilots"]] == ["Pilot 1", "Pilot 2"]
        assert {c["key"]: c["passed"] for c in crawl_review["criteria"]} == {
            "improvement": False,
            "would_recommend": True,
            "can_scale": True,
        }
        assert (crawl_review["outcome"], crawl_review["decided_by"], crawl_review["reason"]) == (
            "go",
            "lee@ourco.example",
            override,
        )
        assert crawl_review["overrides_failing_gate"] is True and crawl_review["by_policy"] is False
        assert crawl_review["decided_at"] == record["phases"][2]["started_at"]
        kinds = {t["kind"] for t in record["tasks"]}
        assert kinds == {"crawl-kickoff", "walk-kickoff"}

        code, output = await cli(settings, client, "show", slug)
        assert code == 0, output
        for text in ("signed by Dana Reyes (us)", "Phases", "Crawl gate review", "OVERRIDE", "by Lee Park", override):
            assert text in output
        assert "Tasks" in output and all(t["id"] in output for t in record["tasks"])

        code, output = await cli(settings, client, "show", "no-such-partnership")
        assert code == 1 and output.strip().startswith("error: no partnership 'no-such-partnership'")
        assert len(output.strip().splitlines()) == 1
