"""Deciding gate reviews from Slack: signed clicks become the workflow's decide Update.

The Bolt app runs over real HTTP on a local port, the review messages come from a
real worker posting to the fake Slack, and the decisions land in a workflow on the
Temporal dev server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.notifiers import SlackNotifier, SlackSettings
from partnerships.adapters.slack.notifier import make_web_client
from partnerships.adapters.slack.settings import EVENTS_PATH
from partnerships.adapters.store import Store
from partnerships.domain.charter import Charter
from partnerships.domain.lifecycle import Step, TimeScale
from partnerships.service import audit as audits
from partnerships.service import commands as service
from partnerships.slack_app.app import UNCONFIRMED, build_app, http_app
from tests.fake_slack import BOT_TOKEN, CHANNEL_ID, CHANNEL_NAME, FakeSlack
from tests.helpers import (
    SLACK_DOOR,
    at,
    example_charter,
    record_pilots,
    running_worker,
    settle,
    sign_both,
    start,
    wait_for,
)

SIGNING_SECRET = "8f1c0d2e-test-signing-secret"
LEE = "U0LEEP002"  # Lee Park, a reviewer
SAM = "U0SAMO003"  # Sam Okafor, the partner's decision owner, in Acme's own workspace
ACME_TEAM = "T0ACME001"
DANA = "U0DANA001"  # Dana Reyes, a reviewer and our decision owner
STRANGER = "U0STRANGE9"  # in the workspace, not in the charter
# A week lasts a second: Crawl takes 4 s; the review stays open minutes before its
# reminder, so clicks never race the policy decision on a busy machine.
ONE_WEEK_A_SECOND = TimeScale(seconds_per_week=1, review_window_seconds=600)

T = TypeVar("T")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@dataclass
class Answer:
    status: int
    body: str


@dataclass
class SlackApp:
    url: str
    session: aiohttp.ClientSession

    async def post(self, payload: dict[str, Any], *, secret: str = SIGNING_SECRET, age: float = 0) -> Answer:
        """POST an interaction the way Slack does: form-encoded, timestamped and signed."""
        body = urlencode({"payload": json.dumps(payload)})
        timestamp = str(int(time.time() - age))
        digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest}",
        }
        async with self.session.post(self.url, data=body, headers=headers) as response:
            return Answer(status=response.status, body=await response.text())

    async def post_unsigned(self, payload: dict[str, Any]) -> Answer:
        body = urlencode({"payload": json.dumps(payload)})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with self.session.post(self.url, data=body, headers=headers) as response:
            return Answer(status=response.status, body=await response.text())


@pytest_asyncio.fixture
async def slack_app(client: Client, settings: Settings, slack: FakeSlack) -> AsyncIterator[SlackApp]:
    app = build_app(
        client,
        settings,
        SlackSettings(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET),
        web_client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.base_url),
        door_key=SLACK_DOOR,
    )
    runner = web.AppRunner(http_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as session:
        yield SlackApp(url=f"http://{host}:{port}{EVENTS_PATH}", session=session)
    await runner.cleanup()


async def eventually(probe: Callable[[], T | None], timeout: float = 10) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = probe()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting for Slack")


async def open_crawl_review(
    client: Client, settings: Settings, slack: FakeSlack, after: tuple[float, ...] = (14, 15)
) -> tuple[Charter, dict[str, Any]]:
    """A partnership at its Crawl gate review, and the review message the worker posted."""
    charter = example_charter()
    await start(client, settings, charter, ONE_WEEK_A_SECOND)
    await sign_both(client, charter.slug)
    await record_pilots(client, charter.slug, after=after)
    await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
    key = f"{charter.workflow_id}:review-1:opened"
    [message] = await eventually(lambda: slack.posted_with_key(key))
    return charter, message


def click(message: dict[str, Any], action_id: str, user: str, team: str = "T0OURCO01") -> dict[str, Any]:
    """The block_actions payload Slack sends when `user` of workspace `team` clicks a button of `message`."""
    button = next(
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    )
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A0PARTNERS",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL_ID, "is_ephemeral": False},
        "trigger_id": f"1337.42.{user}",
        "team": {"id": "T0OURCO01", "domain": "ourco"},
        "channel": {"id": CHANNEL_ID, "name": CHANNEL_NAME},
        "message": message,
        "response_url": "https://hooks.slack.invalid/actions/T0OURCO01/1/abc",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "decision-buttons",
                "text": button["text"],
                "value": button["value"],
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def submit(view: dict[str, Any], user: str, reason: str) -> dict[str, Any]:
    """The view_submission payload Slack sends when `user` submits the reason modal."""
    return {
        "type": "view_submission",
        "team": {"id": "T0OURCO01", "domain": "ourco"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0OURCO01"},
        "api_app_id": "A0PARTNERS",
        "token": "legacy-verification-token",
        "trigger_id": f"1338.42.{user}",
        "view": {
            **view,
            "id": "V0MODAL001",
            "team_id": "T0OURCO01",
            "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}},
        },
        "response_urls": [],
    }


def decision_text(message: dict[str, Any]) -> str:
    return next(b["text"]["text"] for b in message["blocks"] if b.get("block_id") == "decision")


def decide_buttons(message: dict[str, Any]) -> list[str]:
    return [
        e["action_id"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("decide:")
    ]


def notifier(slack: FakeSlack, store: Store) -> SlackNotifier:
    web_client = make_web_client(SlackSettings(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.base_url))
    return SlackNotifier(web_client, CHANNEL_ID)


async def test_badly_signed_and_stale_requests_are_rejected_and_change_nothing(
    client: Client, settings: Settings, store: Store, slack: FakeSlack, slack_app: SlackApp
) -> None:
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        charter, message = await open_crawl_review(client, settings, slack)
        payload = click(message, "decide:go", LEE)

        forged = await slack_app.post(payload, secret="not-the-signing-secret")
        stale = await slack_app.post(payload, age=6 * 60)
        unsigned = await slack_app.post_unsigned(payload)

        assert (forged.status, stale.status, unsigned.status) == (401, 401, 401)
        status = await service.status(client, charter.slug)
        assert status.partnership.step is Step.GATE_REVIEW and status.partnership.review is not None
        assert not slack.calls_to("chat.update") and not slack.calls_to("chat.postEphemeral")
        await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def test_a_reviewers_click_decides_the_gate_and_the_message_shows_who_decided(
    client: Client, settings: Settings, store: Store, slack: FakeSlack, slack_app: SlackApp
) -> None:
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        charter, message = await open_crawl_review(client, settings, slack)
        assert decide_buttons(message) == ["decide:go", "decide:no-go", "decide:extend"]

        response = await slack_app.post(click(message, "decide:go", LEE))

        assert response.status == 200
        status = await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        decision = status.partnership.reviews[-1].decision
        assert decision is not None
        assert (decision.outcome.value, decision.decided_by, decision.overrides_failing_gate) == (
            "go",
            "lee@ourco.example",
            False,
        )
        [update] = await eventually(lambda: slack.calls_to("chat.update"))
        assert (update.args["channel"], update.args["ts"]) == (CHANNEL_ID, message["ts"])
        redrawn = next(m for m in slack.posted() if m["ts"] == message["ts"])
        assert decision_text(redrawn).startswith(f"*Decided: go* by Lee Park (<@{LEE}>) on <!date^")
        assert decide_buttons(redrawn) == []
        assert "Lee Park" in redrawn["text"]
        assert not slack.calls_to("chat.postEphemeral")
        await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def test_someone_who_is_not_a_reviewer_is_refused_privately_and_the_gate_stays_open(
    client: Client, settings: Settings, store: Store, slack: FakeSlack, slack_app: SlackApp
) -> None:
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        charter, message = await open_crawl_review(client, settings, slack)
        before = (await service.status(client, charter.slug)).partnership

        response = await slack_app.post(click(message, "decide:no-go", STRANGER))

        assert response.status == 200
        [refusal] = await eventually(lambda: slack.calls_to("chat.postEphemeral"))
        assert (refusal.args["channel"], refusal.args["user"]) == (CHANNEL_ID, STRANGER)
        assert f"reviewer: {STRANGER} is not a reviewer of this partnership" in refusal.args["text"]
        after = (await service.status(client, charter.slug)).partnership
        assert after.step is Step.GATE_REVIEW and after.reviews == before.reviews == []
        assert not slack.calls_to("chat.update")
        await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def test_the_reviewers_user_id_from_another_workspace_is_refused_and_the_gate_stays_open(
    client: Client, settings: Settings, store: Store, slack: FakeSlack, slack_app: SlackApp
) -> None:
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        charter, message = await open_crawl_review(client, settings, slack)
        before = await settle(client, charter.workflow_id)

        # Lee's user id, but from a workspace that is not Lee's (user ids are unique only per workspace).
        response = await slack_app.post(click(message, "decide:go", LEE, team="T0ELSEWHERE"))

        assert response.status == 200
        [refusal] = await eventually(lambda: slack.calls_to("chat.postEphemeral"))
        assert (refusal.args["channel"], refusal.args["user"]) == (CHANNEL_ID, LEE)
        assert refusal.args["text"].startswith("proof.slack_team: ")
        assert "@" not in refusal.args["text"]  # nobody's email is shown to whoever clicked
        assert await settle(client, charter.workflow_id) == before
        after = (await service.status(client, charter.slug)).partnership
        assert after.step is Step.GATE_REVIEW and after.reviews == []
        assert not slack.calls_to("chat.update")
        await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def test_both_companies_sign_from_the_shared_channel_each_from_their_own_workspace(
    client: Client, settings: Settings, store: Store, slack: FakeSlack, slack_app: SlackApp
) -> None:
    # Slack Connect: the partner's signer is a member of Acme's workspace, in a channel shared with us.
    sam = {"name": "Sam Okafor", "email": "sam@acme.example", "slack_user_id": SAM, "slack_team_id": ACME_TEAM}
    charter = example_charter(governance__decision_owners__partner=sam)
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        await start(client, settings, charter, ONE_WEEK_A_SECOND)
        [message] = await eventually(lambda: slack.posted_with_key(f"{charter.workflow_id}:charter-ready"))
        assert "sign-charter" in [
            e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
        ]

        # Sam's user id clicked from our workspace is not Sam.
        await slack_app.post(click(message, "sign-charter", SAM, team="T0OURCO01"))
        [refusal] = await eventually(lambda: slack.calls_to("chat.postEphemeral"))
        assert refusal.args["user"] == SAM and refusal.args["text"].startswith("proof.slack_team: ")
        assert (await service.status(client, charter.slug)).partnership.signatures == []

        await slack_app.post(click(message, "sign-charter", SAM, team=ACME_TEAM))
        await slack_app.post(click(message, "sign-charter", "U0DANA001"))
        status = await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        assert sorted(s.name for s in status.partnership.signatures) == ["Dana Reyes", "Sam Okafor"]
        runs = await audits.histories(client, charter.slug)
        acts = audits.audit(runs)
        assert {(a.actor, a.door, a.holds) for a in acts} == {(SAM, "slack", True), ("U0DANA001", "slack", True)}
        # Each signer's own workspace, whichever of the two clicks the workflow took first.
        assert {(a.actor, a.signed_with.split(" via ")[0]) for a in acts} == {
            (SAM, f"{SAM}@{ACME_TEAM}"),
            ("U0DANA001", "U0DANA001@T0OURCO01"),
        }
        await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def test_go_on_a_failing_gate_asks_for_a_reason_and_records_the_decision_as_an_override(
    client: Client, settings: Settings, store: Store, slack: FakeSlack, slack_app: SlackApp
) -> None:
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        charter, message = await open_crawl_review(client, settings, slack, after=(18, 17))

        # A stranger is refused before any modal opens.
        await slack_app.post(click(message, "decide:go", STRANGER))
        [refusal] = await eventually(lambda: slack.calls_to("chat.postEphemeral"))
        assert "is not a reviewer" in refusal.args["text"]
        assert not slack.calls_to("views.open")

        await slack_app.post(click(message, "decide:go", DANA))
        [opened] = await eventually(lambda: slack.calls_to("views.open"))
        assert opened.args["trigger_id"] == f"1337.42.{DANA}"
        view = opened.args["view"]
        assert view["title"]["text"] == "Override failing gate"
        assert (await service.status(client, charter.slug)).partnership.step is Step.GATE_REVIEW

        too_short = await slack_app.post(submit(view, DANA, "trust me"))
        assert too_short.status == 200
        errors = json.loads(too_short.body)
        assert errors["response_action"] == "errors"
        assert "needs a written reason of at least 15 characters" in errors["errors"]["reason"]
        assert (await service.status(client, charter.slug)).partnership.step is Step.GATE_REVIEW

        reason = "the pilot metric was skewed by a holiday week; Acme committed two engineers"
        accepted = await slack_app.post(submit(view, DANA, reason))

        assert accepted.status == 200
        status = await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        decision = status.partnership.reviews[-1].decision
        assert decision is not None
        assert (decision.decided_by, decision.overrides_failing_gate, decision.reason) == (
            "dana@ourco.example",
            True,
            reason,
        )
        [update] = await eventually(lambda: slack.calls_to("chat.update"))
        assert update.args["ts"] == message["ts"]
        redrawn = next(m for m in slack.posted() if m["ts"] == message["ts"])
        assert "Override of a failing gate" in decision_text(redrawn) and reason in decision_text(redrawn)
        await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def test_one_per_side_counts_our_click_then_the_partners_from_the_shared_channel(
    client: Client, settings: Settings, store: Store, slack: FakeSlack, slack_app: SlackApp
) -> None:
    # The partner's reviewer votes from Acme's own workspace in a channel shared with us (Slack Connect).
    reviewers = [
        {"name": "Lee Park", "email": "lee@ourco.example", "slack_user_id": LEE, "slack_team_id": "T0OURCO01"},
        {"name": "Sam Okafor", "email": "sam@acme.example", "slack_user_id": SAM, "slack_team_id": ACME_TEAM},
    ]
    sided = [{**reviewers[0], "side": "us"}, {**reviewers[1], "side": "partner"}]
    charter = example_charter(governance__reviewers=sided, governance__quorum={"crawl": "one-per-side"})
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        await start(client, settings, charter, ONE_WEEK_A_SECOND)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        [message] = await eventually(lambda: slack.posted_with_key(f"{charter.workflow_id}:review-1:opened"))

        await slack_app.post(click(message, "decide:go", LEE))
        [tally] = await eventually(lambda: slack.calls_to("chat.update"))
        assert tally.args["ts"] == message["ts"] and "1 go" in tally.args["text"]
        redrawn = next(m for m in slack.posted() if m["ts"] == message["ts"])
        votes = next(b["text"]["text"] for b in redrawn["blocks"] if b.get("block_id") == "votes")
        assert "quorum: one-per-side, 1 cast" in votes and "Lee Park: go" in votes
        assert "a reviewer from each side must agree" in votes
        assert decide_buttons(redrawn) == ["decide:go", "decide:no-go", "decide:extend"]  # still open
        assert (await service.status(client, charter.slug)).partnership.step is Step.GATE_REVIEW

        await slack_app.post(click(redrawn, "decide:go", SAM, team=ACME_TEAM))
        status = await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        decision = status.partnership.reviews[-1].decision
        assert decision is not None
        assert [(v.reviewer, v.side) for v in decision.votes] == [
            ("lee@ourco.example", "us"),
            ("sam@acme.example", "partner"),
        ]
        await eventually(lambda: len(slack.calls_to("chat.update")) >= 2 or None)
        final = next(m for m in slack.posted() if m["ts"] == message["ts"])
        assert decision_text(final).startswith("*Decided: go* by Lee Park and Sam Okafor")
        assert decide_buttons(final) == []
        runs = await audits.histories(client, charter.slug)
        votes_cast = [a for a in audits.audit(runs) if a.update == "decide"]
        assert [(a.actor, a.door, a.holds) for a in votes_cast] == [(LEE, "slack", True), (SAM, "slack", True)]
        await client.get_workflow_handle(charter.workflow_id).terminate("test over")


async def test_a_click_no_worker_confirms_in_time_says_so_plainly_and_signs_once_when_tried_again(
    client: Client,
    settings: Settings,
    store: Store,
    slack: FakeSlack,
    slack_app: SlackApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A short wait: what is under test is what the person reads once the engine gives up, not how long it waits.
    monkeypatch.setattr(service, "UPDATE_WAIT", timedelta(seconds=2))
    charter = example_charter()
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        await start(client, settings, charter, ONE_WEEK_A_SECOND)
        [message] = await eventually(lambda: slack.posted_with_key(f"{charter.workflow_id}:charter-ready"))
    # The worker has stopped: the server still remembers it polling, so the click is sent and waits.
    await slack_app.post(click(message, "sign-charter", "U0DANA001"))
    [unconfirmed] = await eventually(lambda: slack.calls_to("chat.postEphemeral"), timeout=30)
    assert unconfirmed.args["text"] == UNCONFIRMED
    async with running_worker(client, settings, store, notifier=notifier(slack, store)):
        await settle(client, charter.workflow_id)
        # Tried again, as the message says: it signs, or it is refused as already signed. Never twice.
        await slack_app.post(click(message, "sign-charter", "U0DANA001"))
        await eventually(lambda: len(slack.calls_to("chat.postEphemeral")) > 1 or None, timeout=30)
        signatures = (await service.status(client, charter.slug)).partnership.signatures
        await client.get_workflow_handle(charter.workflow_id).terminate("test over")
    assert [s.name for s in signatures] == ["Dana Reyes"]
