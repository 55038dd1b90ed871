"""`partnerships doctor`: which notifier is active, whether Temporal answers, which store."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import make_url

from partnerships.adapters.config import Settings
from partnerships.adapters.slack.notifier import SlackNotifier, make_web_client
from partnerships.adapters.slack.settings import EVENTS_PATH, SlackSettings
from partnerships.adapters.temporal_client import make_client

TEMPORAL_CHECK_SECONDS = 5


def doctor_report(settings: Settings, slack: SlackSettings | None = None) -> list[str]:
    """One line per thing checked. Secrets are reported as set or not, never shown."""
    slack = slack or SlackSettings()
    return [
        *_notifier_lines(slack),
        _slack_app_line(slack),
        asyncio.run(_temporal_line(settings)),
        f"store: {make_url(settings.store_url).render_as_string(hide_password=True)}",
    ]


def _notifier_lines(slack: SlackSettings) -> list[str]:
    if not slack.enabled:
        return ["notifier: console (set SLACK_BOT_TOKEN and SLACK_CHANNEL to post to Slack)"]
    if not slack.channel:
        return ["notifier: slack — PROBLEM: SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not"]
    notifier = SlackNotifier(make_web_client(slack), slack.channel)
    try:
        return [f"notifier: slack, channel {slack.channel}: {notifier.verify()}"]
    except Exception as error:  # a diagnosis reports every failure instead of stopping at it
        return [f"notifier: slack, channel {slack.channel} — PROBLEM: {error}"]


def _slack_app_line(slack: SlackSettings) -> str:
    if slack.app_token is not None:
        return "slack app: Socket Mode (SLACK_APP_TOKEN set)"
    if slack.signing_secret is not None:
        return f"slack app: HTTP request URL on :{slack.port}{EVENTS_PATH} (SLACK_SIGNING_SECRET set)"
    return "slack app: not configured (set SLACK_APP_TOKEN or SLACK_SIGNING_SECRET to decide from Slack)"


async def _temporal_line(settings: Settings) -> str:
    where = f"{settings.temporal_address} (namespace {settings.temporal_namespace})"
    try:
        await asyncio.wait_for(make_client(settings), timeout=TEMPORAL_CHECK_SECONDS)
    except Exception as error:  # any failure to connect is the answer here
        reason = "no answer" if isinstance(error, TimeoutError) else str(error).splitlines()[0][:200]
        return f"temporal: PROBLEM — not reachable at {where}: {reason}"
    return f"temporal: reachable at {where}"
