"""A benchmark run that is killed or stopped leaves nothing running behind it.

A dev server or worker left over from a killed run keeps loading the machine under the next
run's figures (seen: an orphaned dev server at half a core skewed the next measurement)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from partnerships.adapters.config import REPO_ROOT

# Starts one child the way the bench starts its server and workers, then waits to be killed.
# The child says when it runs: setpriv has armed the signal by then (a parent killed in the
# instant before would leave it behind, a window the bench never kills in on purpose).
BENCH_WITH_A_CHILD = """
import asyncio, sys
from bench.processes import dies_with_the_bench

SLEEPER = "import time; print('sleeping', flush=True); time.sleep(600)"

async def main():
    child = await asyncio.create_subprocess_exec(
        *dies_with_the_bench([sys.executable, "-c", SLEEPER]), start_new_session=True
    )
    print(child.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""

# A run with something to clean up on its way out.
RUN_WITH_CLEANUP = """
import asyncio, sys
from pathlib import Path
from bench.processes import StoppedBySignal, run_to_the_end

async def run():
    try:
        print("running", flush=True)
        await asyncio.sleep(600)
    finally:
        Path(sys.argv[1]).write_text("cleaned up")

try:
    run_to_the_end(run())
except StoppedBySignal as stopped:
    print(stopped, flush=True)
    sys.exit(143)
"""

# Generous: only a process that never stops makes a test wait this long.
PATIENCE_SECONDS = 60.0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _gone_in_time(pid: int) -> bool:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def test_what_the_bench_started_stops_when_the_bench_is_killed() -> None:
    bench = subprocess.Popen(
        [sys.executable, "-c", BENCH_WITH_A_CHILD], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert bench.stdout is not None
    child = int(bench.stdout.readline())
    try:
        assert bench.stdout.readline().strip() == "sleeping"
        assert _alive(child)
        bench.kill()
        bench.wait(PATIENCE_SECONDS)
        assert _gone_in_time(child), "the bench's child outlived the bench"
    finally:
        bench.kill()
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_sigterm_stops_a_run_after_its_cleanup_and_says_so(tmp_path: Path) -> None:
    cleaned = tmp_path / "cleaned"
    run = subprocess.Popen(
        [sys.executable, "-c", RUN_WITH_CLEANUP, str(cleaned)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert run.stdout is not None
    try:
        assert run.stdout.readline().strip() == "running"
        run.send_signal(signal.SIGTERM)
        assert run.wait(PATIENCE_SECONDS) == 143
        assert "stopped by SIGTERM" in run.stdout.read()
        assert cleaned.read_text() == "cleaned up"
    finally:
        run.kill()
