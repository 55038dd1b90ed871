"""Run the Slack app that decides gate reviews: `python -m partnerships.slack_app`.

Socket Mode when SLACK_APP_TOKEN is set (no public URL needed); otherwise an HTTP
server for Slack's request URL on SLACK_PORT (default 3000) at /slack/events,
verified with SLACK_SIGNING_SECRET. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from partnerships.adapters.config import Settings
from partnerships.adapters.http_server import serve_until_stopped, stop_on_signals
from partnerships.adapters.slack.settings import EVENTS_PATH, SlackSettings
from partnerships.adapters.temporal_client import TemporalUnreachable, make_client
from partnerships.slack_app.app import build_app, http_app

logger = logging.getLogger("partnerships.slack")


async def serve(settings: Settings, slack: SlackSettings) -> None:
    try:
        temporal = await make_client(settings)
    except TemporalUnreachable as error:
        # One line for people, not a traceback.
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    app = build_app(temporal, settings, slack)
    if slack.app_token is not None:
        stop = stop_on_signals()
        handler = AsyncSocketModeHandler(app, slack.app_token.get_secret_value())
        await handler.connect_async()
        logger.info("connected to Slack in Socket Mode; deciding for %s", settings.temporal_address)
        try:
            await stop.wait()
        finally:
            await handler.close_async()
        return
    logger.info(
        "serving Slack's request URL on :%d%s; deciding for %s", slack.port, EVENTS_PATH, settings.temporal_address
    )
    await serve_until_stopped(http_app(app), slack.port)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    slack = SlackSettings()
    problems = []
    if not slack.enabled:
        problems.append("SLACK_BOT_TOKEN: set the bot token (xoxb-…) of the Slack app")
    if slack.app_token is None and slack.signing_secret is None:
        problems.append(
            "SLACK_APP_TOKEN or SLACK_SIGNING_SECRET: set the app token for Socket Mode, "
            "or the signing secret to serve HTTP request URLs"
        )
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(1)
    asyncio.run(serve(Settings(), slack))


if __name__ == "__main__":
    main()
