"""Which notifiers the worker uses: Slack when SLACK_BOT_TOKEN is set, else the console; email
beside it for people Slack does not reach, when SMTP_HOST is set."""

from __future__ import annotations

from partnerships.adapters.console import ConsoleNotifier
from partnerships.adapters.email import EmailNotifier, EmailSettings
from partnerships.adapters.links import Links, LinkSettings
from partnerships.adapters.slack.notifier import SlackNotifier, make_web_client
from partnerships.adapters.slack.settings import SlackSettings
from partnerships.engine.notifier import Notifier

__all__ = ["SlackNotConfigured", "SlackNotifier", "SlackSettings", "make_email_notifier", "make_notifier"]


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


def make_email_notifier(email: EmailSettings | None = None, links: LinkSettings | None = None) -> EmailNotifier | None:
    """Email (with signing links when PARTNERSHIPS_LINK_SECRET is set) when SMTP_HOST is set, else None."""
    email = email or EmailSettings()
    if not email.enabled:
        return None
    links = links or LinkSettings()
    return EmailNotifier(email, Links.from_settings(links) if links.enabled else None)
