"""`make demo`: the embedded setup end to end, then one partnership through every phase.

Starts the Temporal dev server (with its Web UI) on a database file in .data/ unless
one is already listening, starts the worker, drives the demo, and leaves server and
UI up until Ctrl-C. DEMO_EXIT=1 stops everything at the end instead (for scripts).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

from rich.console import Console

from devtools.devserver import start_dev_command
from partnerships.adapters.charter_file import load_charter
from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.demo.script import drive
from partnerships.domain.lifecycle import TimeScale

DATA = REPO_ROOT / ".data"
console = Console(highlight=False, soft_wrap=True)


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, int(port))) == 0


def _wait_for(address: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not _listening(address):
        if time.monotonic() > deadline:
            sys.exit(f"Temporal did not start listening on {address}; see {DATA / 'temporal.log'}")
        time.sleep(0.3)


def main() -> None:
    DATA.mkdir(exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{DATA / 'partnerships.db'}")
    settings = Settings()
    children: list[subprocess.Popen[bytes]] = []
    try:
        if _listening(settings.temporal_address):
            console.print(f"Using the Temporal server already on {settings.temporal_address}")
        else:
            console.print(f"Starting the Temporal dev server (database {DATA / 'temporal.db'}) …")
            log = (DATA / "temporal.log").open("ab")
            children.append(subprocess.Popen(start_dev_command(DATA / "temporal.db"), stdout=log, stderr=log))
            _wait_for(settings.temporal_address, 60)
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
        console.print(f"Temporal Web UI: [bold]{settings.temporal_ui_url}[/bold]\n")

        charter = load_charter(REPO_ROOT / "charters" / "acme-analytics.yaml")
        stamp = datetime.now(UTC).strftime("%m%d-%H%M%S")
        charter = charter.model_copy(update={"slug": f"{charter.slug}-demo-{stamp}"})
        seconds_per_week = float(os.environ.get("DEMO_SECONDS_PER_WEEK", "0.5"))
        asyncio.run(drive(charter, TimeScale(seconds_per_week=seconds_per_week), console))

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
