"""Post partnership notifications to a Slack channel, exactly once each.

The Messenger activity retries a delivery until it succeeds, so every answer
from Slack is sorted into "try again later" (`NotifierUnavailable`: outages, rate
limits, timeouts) or "stop: a person must fix the configuration"
(`NotifierMisconfigured`: a bad token or channel).
"""

from __future__ import annotations

import http.client
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from partnerships.adapters.slack import blocks
from partnerships.adapters.slack.settings import SlackSettings
from partnerships.engine.notifier import NotifierMisconfigured, NotifierUnavailable, OutgoingMessage

logger = logging.getLogger(__name__)

EVENT_TYPE = "partnership_notification"
# Below the activity's 10 s start-to-close timeout, so a slow Slack is retried, not abandoned.
REQUEST_TIMEOUT_SECONDS = 5
# How far back a retry looks for its own earlier post: a crash is retried within minutes.
HISTORY_PAGES = 3
HISTORY_PAGE_SIZE = 100
DEFAULT_RETRY_AFTER_SECONDS = 30

TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
SCOPE_ERRORS = frozenset({"missing_scope", "no_permission"})
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


def make_web_client(slack: SlackSettings) -> WebClient:
    """A Web API client that never retries on its own.

    slack_sdk's default handler resends a request after a connection error, and a
    request that reached Slack before the connection broke would then post twice.
    Retrying is the activity's job: it checks for an earlier post first.
    """
    assert slack.bot_token is not None, "Slack is enabled only with a bot token"
    options: dict[str, Any] = {"base_url": slack.base_url} if slack.base_url else {}
    return WebClient(
        token=slack.bot_token.get_secret_value(),
        timeout=REQUEST_TIMEOUT_SECONDS,
        retry_handlers=[],
        **options,
    )


class SlackNotifier:
    """Posts one Block Kit message per notification to the configured channel."""

    name = "slack"

    def __init__(self, client: WebClient, channel: str) -> None:
        """
        Args:
            client: A Web API client with the bot token (see `make_web_client`).
            channel: Where messages go: a channel id, or a name like ``#partner-acme``.
        """
        self._client = client
        self._channel = channel
        self._channel_ids: dict[str, str] = {}

    def deliver(self, message: OutgoingMessage) -> str:
        # A charter's own channel wins when the workflow passes it along.
        channel = str(message.context.get("slack_channel") or self._channel)
        with _slack_errors_as_notifier_errors(channel):
            if message.may_have_posted:
                earlier = self._find_earlier_post(channel, message.key)
                if earlier is not None:
                    logger.info("notification %s was already posted to Slack as %s", message.key, earlier)
                    return earlier
            response = self._client.chat_postMessage(
                channel=channel,
                text=blocks.fallback_text(message),
                blocks=blocks.message_blocks(message),
                metadata={"event_type": EVENT_TYPE, "event_payload": {"key": message.key}},
                unfurl_links=False,
                unfurl_media=False,
            )
        channel_id = str(response["channel"])
        self._channel_ids[channel] = channel_id
        return _reference(channel_id, str(response["ts"]))

    def verify(self) -> str:
        """Check the token and channel now (for `doctor` and worker start-up); a line for people."""
        with _slack_errors_as_notifier_errors(self._channel):
            identity = self._client.auth_test()
            channel_id = self._channel_id(self._channel)
            info = self._client.conversations_info(channel=channel_id)
        name = info["channel"].get("name", channel_id)
        member = "a member" if info["channel"].get("is_member") else "NOT a member (invite the bot)"
        return f"bot @{identity.get('user')} in workspace {identity.get('team')}; #{name} ({channel_id}): {member}"

    def _find_earlier_post(self, channel: str, key: str) -> str | None:
        channel_id = self._channel_id(channel)
        cursor = None
        for _ in range(HISTORY_PAGES):
            page = self._client.conversations_history(
                channel=channel_id, limit=HISTORY_PAGE_SIZE, include_all_metadata=True, cursor=cursor
            )
            messages: list[dict[str, Any]] = page.get("messages", [])
            for posted in messages:
                metadata = posted.get("metadata") or {}
                if metadata.get("event_type") == EVENT_TYPE and metadata.get("event_payload", {}).get("key") == key:
                    return _reference(channel_id, posted["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def _channel_id(self, channel: str) -> str:
        """conversations.history takes ids only; a configured name is looked up once."""
        if CHANNEL_ID.match(channel):
            return channel
        name = channel.removeprefix("#")
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        cursor = None
        while True:
            page = self._client.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
            )
            channels: list[dict[str, Any]] = page.get("channels", [])
            for candidate in channels:
                if candidate.get("name") == name:
                    self._channel_ids[channel] = candidate["id"]
                    return str(candidate["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                raise NotifierMisconfigured(
                    f"Slack has no channel named {channel} that the bot can see: check SLACK_CHANNEL"
                )


def _reference(channel_id: str, ts: str) -> str:
    return f"slack:{channel_id}:{ts}"


@contextmanager
def _slack_errors_as_notifier_errors(channel: str) -> Iterator[None]:
    try:
        yield
    except SlackApiError as error:
        raise _classify(error, channel) from None
    except (OSError, http.client.HTTPException) as error:
        # Timeouts and broken connections: Slack may or may not have acted, and a retry
        # of a post finds out in the channel's history before posting again.
        raise NotifierUnavailable(f"Slack did not answer ({type(error).__name__}); retrying") from None


def _classify(error: SlackApiError, channel: str) -> NotifierUnavailable | NotifierMisconfigured:
    """Slack's answer as a notifier error: retry later, or stop and tell a person what to fix.

    Messages name the setting to fix and Slack's error code, never the token.
    """
    response = error.response
    code = str(response.get("error", "unknown_error")) if isinstance(response.data, dict) else "unknown_error"
    status = response.status_code
    if status == 429 or code == "ratelimited":
        seconds = _retry_after(response.headers)
        return NotifierUnavailable(
            f"Slack is rate-limiting the bot: retrying in {seconds} s", retry_after=timedelta(seconds=seconds)
        )
    if code in TOKEN_ERRORS:
        return NotifierMisconfigured(
            f"Slack refused the bot token ({code}): check SLACK_BOT_TOKEN and that the app is installed"
        )
    if code in CHANNEL_ERRORS:
        return NotifierMisconfigured(
            f"Slack cannot post to channel {channel} ({code}): check SLACK_CHANNEL and invite the bot to it"
        )
    if code in SCOPE_ERRORS:
        return NotifierMisconfigured(
            f"the Slack app lacks a permission ({code}): add the chat:write, channels:history, "
            "groups:history and channels:read scopes and reinstall it"
        )
    if status >= 500:
        return NotifierUnavailable(f"Slack answered HTTP {status}: retrying")
    # Anything else may be transient on Slack's side; the workflow's retries show it in the Web UI.
    return NotifierUnavailable(f"Slack refused the request ({code}, HTTP {status}): retrying")


def _retry_after(headers: dict[str, Any]) -> int:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(1, int(float(raw)))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER_SECONDS
