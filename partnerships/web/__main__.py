"""Serve the signing-link pages: `python -m partnerships.web` (or `make web`).

Needs PARTNERSHIPS_LINK_SECRET (the same as the worker's, which makes the links) and
PARTNERSHIPS_LINK_DOOR_KEY_FILE (the key this process signs acts with); listens on
PARTNERSHIPS_WEB_PORT (default 8700). Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from partnerships.adapters.config import Settings
from partnerships.adapters.http_server import serve_until_stopped
from partnerships.adapters.keys import KeyProblem, SigningKey
from partnerships.adapters.links import Links, LinkSettings
from partnerships.adapters.templates import make_environment
from partnerships.adapters.temporal_client import TemporalUnreachable, make_client
from partnerships.web.app import link_app

logger = logging.getLogger("partnerships.web")


async def serve(settings: Settings, links: LinkSettings, door_key: SigningKey, port: int) -> None:
    try:
        temporal = await make_client(settings)
    except TemporalUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    application = link_app(temporal, Links.from_settings(links), door_key, make_environment(settings.templates_dir))
    logger.info("serving signing links on :%d (links point at %s)", port, links.web_url)
    await serve_until_stopped(application, port)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    links = LinkSettings()
    problems = []
    if not links.enabled:
        problems.append("PARTNERSHIPS_LINK_SECRET: set the secret links are made with (the worker's too)")
    if links.door_key_file is None:
        problems.append("PARTNERSHIPS_LINK_DOOR_KEY_FILE: make the door's key with `partnerships login --key FILE`")
    door_key = None
    if links.door_key_file is not None:
        try:
            door_key = SigningKey.load(links.door_key_file)
        except KeyProblem as unusable:
            problems.append(f"PARTNERSHIPS_LINK_DOOR_KEY_FILE: {unusable}")
    if problems or door_key is None:
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(1)
    asyncio.run(serve(Settings(), links, door_key, int(os.environ.get("PARTNERSHIPS_WEB_PORT", "8700"))))


if __name__ == "__main__":
    main()
