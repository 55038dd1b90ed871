"""Which notifier the worker uses: Slack when SLACK_BOT_TOKEN is set, else the console."""

from __future__ import annotations

from partnerships.adapters.console import ConsoleNotifier
from partnerships.adapters.slack.notifier import SlackNotifier, make_web_client
from partnerships.adapters.slack.settings import SlackSettings
from partnerships.engine.notifier import Notifier

__all__ = ["SlackNotConfigured", "SlackNotifier", "SlackSettings", "make_notifier"]


class SlackNotConfigured(ValueError):
    """Slack is half configured; the message says which variable is missing."""


def make_notifier(slack: SlackSettings | None = None) -> Notifier:
    """Slack when SLACK_BOT_TOKEN is set, else the console.

    Args:
        slack: Slack's settings; read from the environment when omitted.
    """
    slack = slack or SlackSettings()
    if not slack.enabled:
        return ConsoleNotifier()
    if not slack.channel:
        raise SlackNotConfigured("SLACK_CHANNEL: set the channel (id or #name) to post to when SLACK_BOT_TOKEN is set")
    return SlackNotifier(make_web_client(slack), slack.channel)
