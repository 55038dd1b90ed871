"""The processes a benchmark run owns: its own dev server and its worker subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client

from devtools.devserver import start_dev_command
from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.temporal_client import TemporalUnreachable, make_client

SERVER_START_TIMEOUT = 60.0
WORKER_START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0

T = TypeVar("T")


class StoppedBySignal(Exception):
    """The run was stopped from outside (SIGTERM) and cleaned up after itself."""


def run_to_the_end(run: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, where SIGTERM (a CI timeout, `kill`) cancels the run as Ctrl-C does: its
    server and workers are stopped and its workflows terminated on the way out, instead of left
    loading the machine under the next run's figures."""

    async def cancelled_by_sigterm() -> T:
        main = asyncio.current_task()
        assert main is not None
        stopped: list[bool] = []

        def stop_the_run() -> None:
            stopped.append(True)
            main.cancel()

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop_the_run)
        try:
            return await run
        except asyncio.CancelledError:
            if stopped:
                raise StoppedBySignal("stopped by SIGTERM, after stopping what it had started") from None
            raise

    return asyncio.run(cancelled_by_sigterm())


def dies_with_the_bench(command: list[str]) -> list[str]:
    """The command, made to get SIGTERM when the process that starts it dies, however it died
    (SIGKILL, a crash), so nothing it started outlives it. Each child has its own session, which
    keeps signals aimed at the bench's process group away from it meanwhile."""
    setpriv = shutil.which("setpriv")  # util-linux: on every Debian; without it, a kill may leave orphans
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DevServer:
    process: asyncio.subprocess.Process
    address: str
    client: Client


async def _connect_when_up(settings: Settings, process: asyncio.subprocess.Process) -> Client:
    deadline = asyncio.get_running_loop().time() + SERVER_START_TIMEOUT
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"the Temporal dev server exited with {process.returncode}")
        try:
            return await make_client(settings)
        except TemporalUnreachable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def dev_server(work_dir: Path) -> AsyncIterator[DevServer]:
    """Our own server on free ports: other people's test servers on this machine are not disturbed."""
    port, ui_port = free_port(), free_port()
    command = [*start_dev_command(work_dir / "temporal.db", port, ui_port), "--headless"]
    # Its own session, so nothing aimed at the bench's process group reaches it; its output kept,
    # so a server that dies mid-run says why (SERVER_LOG, shown by the error the run ends with).
    log = (work_dir / SERVER_LOG).open("wb")
    process = await asyncio.create_subprocess_exec(
        *dies_with_the_bench(command), stdout=log, stderr=log, start_new_session=True
    )
    address = f"127.0.0.1:{port}"
    try:
        client = await _connect_when_up(Settings(TEMPORAL_ADDRESS=address), process)
        yield DevServer(process=process, address=address, client=client)
    finally:
        await stop(process)
        log.close()


SERVER_LOG = "temporal-dev-server.log"


def server_log_tail(work_dir: Path, lines: int = 20) -> str:
    path = work_dir / SERVER_LOG
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


async def exited(process: asyncio.subprocess.Process) -> int:
    """The exit code, once the process is gone.

    Not `process.wait()`: that also waits for the process's pipes to close, and twice on this
    machine a worker that died under the burst (a segfault in the SDK's native threads) left
    `wait()` pending for good while its exit code was already known.
    """
    while process.returncode is None:
        await asyncio.sleep(0.5)
    return process.returncode


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(exited(process), STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(exited(process), STOP_TIMEOUT)


# Workers that died during a run and were replaced (the SDK's native runtime segfaulted once
# under load on the 2-core machine): the report lists them, since they cost the figures time.
RESTARTS: list[str] = []


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    task_queue: str
    side: str = ""
    address: str = ""
    database_url: str = ""
    # Set before the bench stops (or kills) it on purpose: an exit is then not a crash.
    stopping: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    async def kill(self) -> None:
        self.stopping = True
        if self.process.returncode is None:
            self.process.kill()
        await exited(self.process)


async def _spawn(side: str, task_queue: str, address: str, database_url: str) -> asyncio.subprocess.Process:
    command = [sys.executable, "-m", "bench.worker_process", side, "--task-queue", task_queue]
    process = await asyncio.create_subprocess_exec(
        *dies_with_the_bench([*command, "--address", address, "--database-url", database_url]),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), WORKER_START_TIMEOUT)
    except TimeoutError:
        line = b""
    if line.strip() != b"ready":
        await stop(process)
        raise RuntimeError(f"the {side} worker did not start (exit code {process.returncode})")
    return process


async def _supervise(worker: WorkerProcess) -> None:
    """A worker that exits while the bench still needs it is reported and replaced on its queue:
    its workflows wait in Temporal meanwhile, so the run goes on instead of waiting forever."""
    while True:
        code = await exited(worker.process)
        if worker.stopping:
            return
        RESTARTS.append(f"{worker.side} worker (pid {worker.process.pid}) exited with {code}")
        print(f"the {worker.side} worker exited with {code}: starting another on {worker.task_queue}", file=sys.stderr)
        worker.process = await _spawn(worker.side, worker.task_queue, worker.address, worker.database_url)


@contextlib.asynccontextmanager
async def worker_process(side: str, task_queue: str, address: str, database_url: str) -> AsyncIterator[WorkerProcess]:
    process = await _spawn(side, task_queue, address, database_url)
    worker = WorkerProcess(process, task_queue, side, address, database_url)
    supervisor = asyncio.create_task(_supervise(worker))
    try:
        yield worker
    finally:
        worker.stopping = True
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            await supervisor
        await stop(worker.process)


@dataclass(frozen=True)
class Memory:
    rss_mib: float
    peak_mib: float


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds the process has used so far (all its threads: the SDK's native
    ones too); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime, the 14th and 15th fields of stat(5), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_of(pid: int) -> Memory:
    """Resident and peak resident memory from /proc (Linux): no extra dependency needed."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return Memory(rss_mib=fields["VmRSS"], peak_mib=fields["VmHWM"])
