"""`make demo`: the embedded setup end to end, then one partnership through every phase.

Starts the Temporal dev server (with its Web UI) on a database file in .data/ unless
one is already listening, starts the worker, drives the demo, and leaves server and
UI up until Ctrl-C. DEMO_EXIT=1 stops everything at the end instead (for scripts).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from rich.console import Console
from sqlalchemy.engine import make_url

from devtools.devserver import start_dev_command
from partnerships.adapters.charter_file import load_charter
from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.keys import SigningKey
from partnerships.adapters.web_ui import setup_lines
from partnerships.demo.script import drive
from partnerships.domain.lifecycle import TimeScale

DATA = REPO_ROOT / ".data"
console = Console(highlight=False, soft_wrap=True)


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, int(port))) == 0


def _wait_for(address: str, seconds: float, what: str = "Temporal", log: str = "temporal.log") -> None:
    deadline = time.monotonic() + seconds
    while not _listening(address):
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not start listening on {address}; see {DATA / log}")
        time.sleep(0.3)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _local_inbox(children: list[subprocess.Popen[bytes]]) -> Path:
    """A mail server on this machine delivering into a Maildir in .data/inbox, and the signing-link
    pages, so the partner signs from their email as they would for real (README: Who can act)."""
    inbox = DATA / "inbox"
    smtp_port, web_port = _free_port(), _free_port()
    # Runs in its own thread until the demo ends; nothing leaves this machine.
    Controller(Mailbox(inbox), hostname="127.0.0.1", port=smtp_port).start()
    door_key = DATA / "link-door-key"
    if not door_key.exists():
        SigningKey.generate("demo link door").save(door_key)
    os.environ.update(
        {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_SECURITY": "none",
            "SMTP_FROM": "partnerships@demo.localhost",
            "PARTNERSHIPS_LINK_SECRET": secrets.token_urlsafe(32),
            "PARTNERSHIPS_WEB_URL": f"http://127.0.0.1:{web_port}",
            "PARTNERSHIPS_WEB_PORT": str(web_port),
            "PARTNERSHIPS_LINK_DOOR_KEY_FILE": str(door_key),
        }
    )
    web_log = (DATA / "web.log").open("ab")
    children.append(
        subprocess.Popen([sys.executable, "-m", "partnerships.web"], stdout=web_log, stderr=web_log, cwd=REPO_ROOT)
    )
    _wait_for(f"127.0.0.1:{web_port}", 30, "the signing-link pages", "web.log")
    console.print(f"Local inbox: {inbox} (Maildir); signing-link pages on :{web_port} (log: {DATA / 'web.log'})")
    return inbox


def main() -> None:
    DATA.mkdir(exist_ok=True)
    # The same store as `make worker` and the CLI (Settings' default, or DATABASE_URL): what the
    # demo leaves behind shows in `partnerships show`, `tasks` and `report` afterwards.
    settings = Settings()
    console.print(f"Store: {make_url(settings.store_url).render_as_string(hide_password=True)}")
    children: list[subprocess.Popen[bytes]] = []
    try:
        if _listening(settings.temporal_address):
            console.print(f"Using the Temporal server already on {settings.temporal_address}")
        else:
            console.print(f"Starting the Temporal dev server (database {DATA / 'temporal.db'}) …")
            log = (DATA / "temporal.log").open("ab")
            children.append(subprocess.Popen(start_dev_command(DATA / "temporal.db"), stdout=log, stderr=log))
            _wait_for(settings.temporal_address, 60)
        inbox = _local_inbox(children)
        worker_log = (DATA / "worker.log").open("ab")
        children.append(
            subprocess.Popen(
                [sys.executable, str(REPO_ROOT / "worker.py")],
                stdout=worker_log,
                stderr=worker_log,
                cwd=REPO_ROOT,
            )
        )
        console.print(f"Worker started (log: {DATA / 'worker.log'})")
        console.print(f"Temporal Web UI: [bold]{settings.temporal_ui_url}[/bold]")
        for line in setup_lines(settings.temporal_ui_url, settings.temporal_namespace):
            console.print(line, markup=False)
        console.print()

        charter = load_charter(REPO_ROOT / "charters" / "acme-analytics.yaml")
        stamp = datetime.now(UTC).strftime("%m%d-%H%M%S")
        charter = charter.model_copy(update={"slug": f"{charter.slug}-demo-{stamp}"})
        seconds_per_week = float(os.environ.get("DEMO_SECONDS_PER_WEEK", "0.5"))
        # People's waits (signing, reviews, re-commitment) get a minute's window: the demo acts in
        # seconds, and a busy machine never lets a deadline pre-empt it.
        window = float(os.environ.get("DEMO_REVIEW_WINDOW_SECONDS", "60"))
        time_scale = TimeScale(seconds_per_week=seconds_per_week, review_window_seconds=window)
        asyncio.run(drive(charter, time_scale, console, inbox))

        if os.environ.get("DEMO_EXIT") == "1":
            return
        console.print("\nServer, Web UI and worker stay up. Press Ctrl-C to stop.")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass
    finally:
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    main()
