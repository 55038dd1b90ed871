"""Gate reviews posted to Slack: what reviewers see, exactly once, through outages and bad settings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities import Messenger
from partnerships.adapters.config import Settings
from partnerships.adapters.console import ConsoleNotifier
from partnerships.adapters.notifiers import SlackNotifier, SlackSettings, make_notifier
from partnerships.adapters.store import Store
from partnerships.adapters.templates import MessageTexts, make_environment
from partnerships.domain.gates import CrawlEvidence, PilotResult, WalkEvidence
from partnerships.domain.lifecycle import Partnership, Phase, Step, TimeScale
from partnerships.engine.contracts import Recipient, SendNotificationInput, StepRecord
from partnerships.engine.notifier import OutgoingMessage
from partnerships.service.doctor import doctor_report
from tests.fake_slack import BOT_TOKEN, CHANNEL_ID, CHANNEL_NAME, UI_URL, Failure, FakeSlack, web_client
from tests.helpers import example_charter, running_worker, scorecard, start

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@dataclass
class Sent:
    newly_delivered: bool


class OneMessage:
    """A message through the outbox as the engine sends it: recorded with its step, then delivered."""

    def __init__(self, store: Store, messenger: Messenger) -> None:
        self._store = store
        self._messenger = messenger

    def send_notification(self, request: SendNotificationInput) -> Sent:
        queued = self._messenger.compose(request, datetime.now(UTC))
        self._store.write_step(StepRecord(partnership_id=request.partnership_id, chain_id="one-run"), [], queued)
        return Sent(newly_delivered=self._messenger.deliver(request.key))


def messenger(settings: Settings, store: Store, notifier: Any) -> OneMessage:
    return OneMessage(store, Messenger(store, notifier, MessageTexts(make_environment(settings.templates_dir)), UI_URL))


def review_notification(
    gate: str = "crawl", *, passing: bool = True, kind: str = "review-opened"
) -> SendNotificationInput:
    """The notification the workflow sends when a gate review opens, with a real evaluation."""
    charter = example_charter()
    p = Partnership.begin(charter, TimeScale(), NOW - timedelta(weeks=6))
    p.step = Step.UNDERWAY
    if gate == "crawl":
        p.phase = Phase.CRAWL
        after = (14, 15) if passing else (18, 15)
        p.crawl = CrawlEvidence(
            pilots=[
                PilotResult(customer=f"Pilot {i + 1}", metric_before=20, metric_after=a, would_recommend=True)
                for i, a in enumerate(after)
            ],
            integration_can_scale=True,
        )
    elif gate == "walk":
        p.phase = Phase.WALK
        p.walk = WalkEvidence(invited=8, adopted=6, partner_promoting=True, support_manageable=True)
    else:
        p.phase, p.quarter, p.scorecard = Phase.RUN, 1, scorecard()
    review = p.open_review(NOW)
    context = {
        "partner": charter.partner.name,
        "slug": charter.slug,
        "tier": int(charter.tier),
        "phase": p.phase.value,
        "phase_label": p.phase_label(),
        "awaiting": p.awaiting(),
        "review": review.model_dump(mode="json", exclude={"evidence"}),
    }
    return SendNotificationInput(
        key=f"{review.id}:opened" if kind == "review-opened" else f"{review.id}:{kind}",
        kind=kind,
        partnership_id=charter.workflow_id,
        audience=[
            Recipient(name=r.name, email=r.email, slack_user_id=r.slack_user_id) for r in charter.governance.reviewers
        ],
        context=context,
        sent_at=NOW,
    )


def texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


# ------------------------------------------------------------------ content


def test_a_review_message_shows_each_criterion_measured_against_its_threshold(
    slack: FakeSlack, settings: Settings, store: Store
) -> None:
    request = review_notification("crawl", passing=False)
    messenger(settings, store, SlackNotifier(web_client(slack), CHANNEL_ID)).send_notification(request)

    [message] = slack.posted()
    blocks = message["blocks"]
    review = request.context["review"]
    shown = texts(blocks)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": message["text"], "emoji": True}}
    assert "Acme Analytics" in message["text"] and "Crawl gate review" in message["text"]
    for field in (
        "*Partnership*",
        request.partnership_id,
        "*Partner*\\nAcme Analytics",
        "*Tier*\\n2",
        "*Phase*\\nCrawl",
    ):
        assert field in shown
    criteria = {b["block_id"]: b["text"]["text"] for b in blocks if b.get("block_id", "").startswith("criterion-")}
    assert list(criteria) == [f"criterion-{c['key']}" for c in review["evaluation"]["criteria"]]
    assert criteria["criterion-improvement"].startswith("❌ *fail*")
    assert "Measured: *Pilot 1 +10.0 %, Pilot 2 +25.0 %*" in criteria["criterion-improvement"]
    assert "Threshold: ≥ 20 % for every pilot" in criteria["criterion-improvement"]
    assert criteria["criterion-can_scale"].startswith("✅ *pass*")
    assert "Measured: *yes* · Threshold: yes" in criteria["criterion-can_scale"]
    recommendation = next(b for b in blocks if b.get("block_id") == "recommendation")["text"]["text"]
    assert recommendation.startswith("*Recommendation: no-go* — Crawl failed improvement")
    deadline = next(b for b in blocks if b.get("block_id") == "deadline")["elements"][0]["text"]
    remind_at = datetime.fromisoformat(review["remind_at"])
    assert f"Decide by <!date^{int(remind_at.timestamp())}^" in deadline
    assert f"|{remind_at:%Y-%m-%d %H:%M} UTC>" in deadline
    link = f"{UI_URL}/workflows/{request.partnership_id}"
    assert {
        "type": "button",
        "action_id": "open-workflow",
        "text": {"type": "plain_text", "text": "Open in Temporal", "emoji": True},
        "url": link,
    } in buttons(blocks)
    assert f"<{link}|{request.partnership_id}>" in shown
    assert message["metadata"] == {"event_type": "partnership_notification", "event_payload": {"key": request.key}}


@pytest.mark.parametrize(
    ("gate", "decisions"),
    [
        ("crawl", ["go", "no-go", "extend"]),
        ("walk", ["go", "no-go", "restart-crawl", "extend"]),
        ("qbr", ["go", "no-go", "revalidate"]),
    ],
)
def test_a_review_opened_message_offers_exactly_the_decisions_its_gate_allows(
    slack: FakeSlack, settings: Settings, store: Store, gate: str, decisions: list[str]
) -> None:
    request = review_notification(gate)
    messenger(settings, store, SlackNotifier(web_client(slack), CHANNEL_ID)).send_notification(request)

    [message] = slack.posted()
    decide = [b for b in buttons(message["blocks"]) if b["action_id"].startswith("decide:")]
    assert [b["action_id"].removeprefix("decide:") for b in decide] == decisions
    for button in decide:
        assert json.loads(button["value"]) == {
            "workflow_id": request.partnership_id,
            "review_id": request.context["review"]["id"],
        }
    assert next(b for b in decide if b["action_id"] == "decide:no-go")["confirm"]


def test_review_reminders_show_the_evidence_without_buttons_and_a_ready_charter_offers_signing(
    slack: FakeSlack, settings: Settings, store: Store
) -> None:
    send = messenger(settings, store, SlackNotifier(web_client(slack), CHANNEL_ID)).send_notification
    send(review_notification("walk", kind="review-reminder"))
    send(
        SendNotificationInput(
            key="partnership-x:charter-ready",
            kind="charter-ready",
            partnership_id="partnership-x",
            audience=[Recipient(name="Dana Reyes", email="dana@ourco.example")],
            context={
                "partner": "Acme Analytics",
                "slug": "x",
                "tier": 2,
                "phase": "charter",
                "phase_label": "Charter",
                "awaiting": "signatures",
            },
            sent_at=NOW,
        )
    )

    reminder, ready = slack.posted()
    assert "criterion-adoption" in texts(reminder["blocks"])
    assert [b["action_id"] for b in buttons(reminder["blocks"])] == ["open-workflow"]
    assert ready["blocks"][0]["type"] == "header" and "Acme Analytics" in ready["text"]
    # The signers click Sign in the channel (shared with the partner through Slack Connect).
    assert [b["action_id"] for b in buttons(ready["blocks"])] == ["sign-charter", "open-workflow"]


# -------------------------------------------------------------- exactly once


def test_sending_the_same_notification_twice_posts_it_once(slack: FakeSlack, settings: Settings, store: Store) -> None:
    send = messenger(settings, store, SlackNotifier(web_client(slack), CHANNEL_ID)).send_notification
    request = review_notification()

    first, second = send(request), send(request)

    assert (first.newly_delivered, second.newly_delivered) == (True, False)
    assert len(slack.calls_to("chat.postMessage")) == 1
    row = store.notification(request.key)
    assert row is not None and row.status == "delivered"
    assert row.delivery_ref == f"slack:{CHANNEL_ID}:{slack.posted()[0]['ts']}"


class CrashesAfterPosting:
    """The worker dies after Slack posted and before the store marked the row delivered."""

    name = "slack"

    def __init__(self, notifier: SlackNotifier) -> None:
        self._notifier = notifier

    def deliver(self, message: OutgoingMessage) -> str:
        self._notifier.deliver(message)
        raise RuntimeError("worker lost before commit")


def test_a_crash_between_posting_and_recording_it_does_not_post_again(
    slack: FakeSlack, settings: Settings, store: Store
) -> None:
    notifier = SlackNotifier(web_client(slack), f"#{CHANNEL_NAME}")
    request = review_notification()
    with pytest.raises(RuntimeError, match="worker lost"):
        messenger(settings, store, CrashesAfterPosting(notifier)).send_notification(request)
    # A new worker process: nothing remembered in memory.
    fresh = SlackNotifier(web_client(slack), f"#{CHANNEL_NAME}")

    receipt = messenger(settings, store, fresh).send_notification(request)

    assert receipt.newly_delivered
    assert len(slack.posted_with_key(request.key)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert slack.calls_to("conversations.history")[0].args["channel"] == CHANNEL_ID
    row = store.notification(request.key)
    assert row is not None and (row.status, row.attempts) == ("delivered", 2)
    assert row.delivery_ref == f"slack:{CHANNEL_ID}:{slack.posted()[0]['ts']}"


@pytest.mark.parametrize(
    "lost_answer",
    [Failure("http500", posts=True), Failure("slow", delay=3)],
    ids=["500-after-posting", "answer-too-slow"],
)
def test_when_slacks_answer_is_lost_the_retry_finds_the_post_instead_of_posting_again(
    slack: FakeSlack, settings: Settings, store: Store, lost_answer: Failure
) -> None:
    send = messenger(settings, store, SlackNotifier(web_client(slack, timeout=1), CHANNEL_ID)).send_notification
    request = review_notification()
    slack.fail_next("chat.postMessage", lost_answer)

    with pytest.raises(ApplicationError) as failed:
        send(request)
    assert not failed.value.non_retryable
    send(request)

    assert len(slack.posted_with_key(request.key)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_an_outage_before_posting_delays_the_message_without_losing_it(
    slack: FakeSlack, settings: Settings, store: Store
) -> None:
    send = messenger(settings, store, SlackNotifier(web_client(slack), CHANNEL_ID)).send_notification
    request = review_notification()
    slack.fail_next("chat.postMessage", Failure("http500"), times=2)

    for _ in range(2):
        with pytest.raises(ApplicationError, match="HTTP 500") as failed:
            send(request)
        assert not failed.value.non_retryable
    send(request)

    assert len(slack.posted_with_key(request.key)) == 1
    row = store.notification(request.key)
    assert row is not None and (row.status, row.attempts) == ("delivered", 3)


def test_rate_limiting_makes_temporal_wait_as_long_as_slack_asks(
    slack: FakeSlack, settings: Settings, store: Store
) -> None:
    send = messenger(settings, store, SlackNotifier(web_client(slack), CHANNEL_ID)).send_notification
    request = review_notification()
    slack.fail_next("chat.postMessage", Failure("ratelimited", retry_after=7))

    with pytest.raises(ApplicationError, match="rate-limiting") as failed:
        send(request)
    assert failed.value.next_retry_delay == timedelta(seconds=7)
    assert not failed.value.non_retryable
    send(request)

    assert len(slack.posted_with_key(request.key)) == 1


async def test_a_worker_retries_through_outages_and_rate_limits_and_posts_once(
    client: Client, settings: Settings, store: Store, slack: FakeSlack
) -> None:
    slack.fail_next("chat.postMessage", Failure("http500"))
    slack.fail_next("chat.postMessage", Failure("ratelimited", retry_after=1))
    notifier = SlackNotifier(web_client(slack), CHANNEL_ID)
    charter = example_charter()
    key = f"{charter.workflow_id}:charter-ready"
    async with running_worker(client, settings, store, notifier=notifier):
        await start(client, settings, charter, TimeScale())
        for _ in range(200):
            row = store.notification(key)
            if row is not None and row.status == "delivered":
                break
            await asyncio.sleep(0.05)
    assert row is not None and (row.status, row.attempts, row.notifier) == ("delivered", 3, "slack")
    assert len(slack.posted_with_key(key)) == 1
    await client.get_workflow_handle(charter.workflow_id).terminate("test over")


# ------------------------------------------------------------ bad settings


def test_a_rejected_token_stops_retrying_and_says_what_to_fix_without_the_token(
    slack: FakeSlack, settings: Settings, store: Store
) -> None:
    wrong_token = "xoxb-999-wrong-SECRETVALUE"
    send = messenger(settings, store, SlackNotifier(web_client(slack, token=wrong_token), CHANNEL_ID)).send_notification

    with pytest.raises(ApplicationError) as failed:
        send(review_notification())

    error = failed.value
    assert error.non_retryable
    assert "invalid_auth" in str(error) and "SLACK_BOT_TOKEN" in str(error)
    everything = f"{error!s} {error!r} {error.details} {error.__cause__!r} {error.__context__!r}"
    assert wrong_token not in everything and "SECRET" not in everything


@pytest.mark.parametrize("code", ["not_authed", "account_inactive", "not_in_channel"])
def test_every_configuration_error_slack_reports_stops_retrying(
    slack: FakeSlack, settings: Settings, store: Store, code: str
) -> None:
    send = messenger(settings, store, SlackNotifier(web_client(slack), CHANNEL_ID)).send_notification
    slack.fail_next("chat.postMessage", Failure(code))

    with pytest.raises(ApplicationError, match=code) as failed:
        send(review_notification())

    assert failed.value.non_retryable
    assert BOT_TOKEN not in str(failed.value)


def test_an_unknown_channel_stops_retrying_and_names_the_channel(
    slack: FakeSlack, settings: Settings, store: Store
) -> None:
    send = messenger(settings, store, SlackNotifier(web_client(slack), "#no-such-channel")).send_notification

    with pytest.raises(
        ApplicationError, match=r"channel #no-such-channel \(channel_not_found\).*SLACK_CHANNEL"
    ) as failed:
        send(review_notification())

    assert failed.value.non_retryable


# --------------------------------------------------------------- selection


def test_slack_is_used_only_when_a_bot_token_is_in_the_environment(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(make_notifier(), ConsoleNotifier)

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    with pytest.raises(ValueError, match="SLACK_CHANNEL"):
        make_notifier()
    monkeypatch.setenv("SLACK_CHANNEL", CHANNEL_ID)
    notifier = make_notifier()
    assert isinstance(notifier, SlackNotifier) and notifier.name == "slack"
    assert BOT_TOKEN not in repr(SlackSettings())


def test_verify_reports_the_bot_and_channel_for_doctor(slack: FakeSlack) -> None:
    line = SlackNotifier(web_client(slack), f"#{CHANNEL_NAME}").verify()

    assert f"#{CHANNEL_NAME} ({CHANNEL_ID}): a member" in line and "@partnerships" in line


def test_doctor_says_which_notifier_is_active_what_is_unreachable_and_hides_secrets(slack: FakeSlack) -> None:
    settings = Settings(
        TEMPORAL_ADDRESS="127.0.0.1:1", DATABASE_URL="postgresql+psycopg://engine:hunter2@db/partnerships"
    )
    slack_settings = SlackSettings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_CHANNEL=f"#{CHANNEL_NAME}",
        SLACK_API_URL=slack.base_url,
        SLACK_SIGNING_SECRET="s1gning-s3cr3t-value",
    )

    report = doctor_report(settings, slack_settings)

    notifier_line, app_line, temporal_line, store_line = report
    assert notifier_line.startswith(f"notifier: slack, channel #{CHANNEL_NAME}: bot @partnerships")
    assert app_line.startswith("slack app: HTTP request URL on :3000/slack/events")
    assert temporal_line.startswith("temporal: PROBLEM — not reachable at 127.0.0.1:1")
    assert store_line == "store: postgresql+psycopg://engine:***@db/partnerships"
    assert not any(secret in line for line in report for secret in (BOT_TOKEN, "s3cr3t", "hunter2"))
    assert doctor_report(settings, SlackSettings(SLACK_BOT_TOKEN=None))[0].startswith("notifier: console")
