"""Serving an aiohttp application until Ctrl-C or SIGTERM: the Slack app's and the link pages'."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM, for a process that stops cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_until_stopped(application: web.Application, port: int) -> None:
    """Listen on `port` until the process is told to stop, then close every connection."""
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, port=port).start()
    stop = stop_on_signals()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
