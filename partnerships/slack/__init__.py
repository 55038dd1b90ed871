"""Slack: gate reviews posted to a channel, and decided there with a click.

`make_notifier` picks where the worker's notifications go; `python -m
partnerships.slack` runs the app that turns clicks into gate decisions.
"""

from __future__ import annotations

from partnerships.config import Settings
from partnerships.notify import ConsoleNotifier, Notifier
from partnerships.slack.config import SlackSettings
from partnerships.slack.notifier import SlackNotifier, make_web_client
from partnerships.store import Store, make_engine

__all__ = ["SlackNotifier", "SlackSettings", "make_notifier"]


class SlackNotConfigured(ValueError):
    """Slack is half configured; the message says which variable is missing."""


def make_notifier(settings: Settings, store: Store | None = None, slack: SlackSettings | None = None) -> Notifier:
    """Slack when SLACK_BOT_TOKEN is set, else the console.

    Args:
        settings: The engine's settings; its store is opened when none is given.
        store: The worker's store, which the Slack notifier reads to avoid posting twice.
        slack: Slack's settings; read from the environment when omitted.
    """
    slack = slack or SlackSettings()
    if not slack.enabled:
        return ConsoleNotifier()
    if not slack.channel:
        raise SlackNotConfigured("SLACK_CHANNEL: set the channel (id or #name) to post to when SLACK_BOT_TOKEN is set")
    return SlackNotifier(make_web_client(slack), slack.channel, store=store or Store(make_engine(settings.store_url)))
