"""The production path on this machine (`make cluster`): what docker-compose.yml deploys, without Docker.

PostgreSQL in `.data/cluster/postgres`; the Temporal server (frontend, history, matching and
worker services in one process) on it with SQL visibility, its schemas applied by
temporal-sql-tool; the Temporal Web UI; the namespace and our search attributes; the
engine's store in its own database; and two workers on one task queue. The server and the
UI run from the same config templates as the temporalio/server and temporalio/ui images,
fed the same variables as docker-compose.yml's services (`SERVER_SETTINGS`, `UI_SETTINGS`)
and the same dynamic config file (`deploy/temporal/dynamicconfig.yaml`).

    python -m devtools.cluster start    # build once per machine, then start (or resume) everything
    python -m devtools.cluster stop     # stop it all; every database stays in .data/cluster
    python -m devtools.cluster status   # what runs, and who polls the task queue
    eval "$(python -m devtools.cluster env)"   # this shell's CLI, worker and bench on the cluster
    python -m devtools.cluster test-env        # the variables `make test-cluster` gives pytest
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from devtools import builds
from devtools.postgres import PostgresServer, PostgresUnavailable
from partnerships.adapters.config import REPO_ROOT, TASK_QUEUE
from partnerships.adapters.temporal_client import workflow_pollers
from partnerships.engine.converter import DATA_CONVERTER
from partnerships.engine.search_attributes import ALL_KEYS, register_missing

CLUSTER_DIR = REPO_ROOT / ".data" / "cluster"
LOGS = CLUSTER_DIR / "logs"
PIDS = CLUSTER_DIR / "run"
DYNAMIC_CONFIG = REPO_ROOT / "deploy" / "temporal" / "dynamicconfig.yaml"

POSTGRES_PORT = 5433
FRONTEND_PORT = 7243
UI_PORT = 8243
# Prometheus metrics of the Temporal server itself (its workers' are on WORKER_METRICS_PORTS).
SERVER_METRICS = "127.0.0.1:9243"
WORKER_METRICS_PORTS = (9464, 9465)
NAMESPACE = "default"
RETENTION = timedelta(days=30)
STORE_DATABASE = "partnerships"
TEMPORAL_DATABASE = "temporal"
VISIBILITY_DATABASE = "temporal_visibility"

# Temporal's two databases and the schema (built into temporal-sql-tool) of each.
SCHEMAS = {TEMPORAL_DATABASE: "postgresql/v12/temporal", VISIBILITY_DATABASE: "postgresql/v12/visibility"}

TEMPORAL_ADDRESS = f"127.0.0.1:{FRONTEND_PORT}"
UI_URL = f"http://127.0.0.1:{UI_PORT}"

# The variables the server image's config template reads, as docker-compose.yml's `temporal`
# service sets them (a unit test holds the two equal). History shards are fixed for the life
# of the database: changing NUM_HISTORY_SHARDS means a new cluster.
SERVER_SETTINGS = {
    "DB": "postgres12",
    "DBNAME": TEMPORAL_DATABASE,
    "VISIBILITY_DBNAME": VISIBILITY_DATABASE,
    "NUM_HISTORY_SHARDS": "4",
    "LOG_LEVEL": "warn",
    # Said out loud (the server warns otherwise): no authorizer. The frontend is reached only from
    # this machine, or compose's network and host; one reachable by others sets TEMPORAL_AUTH_AUTHORIZER.
    "TEMPORAL_ALLOW_NO_AUTH": "true",
}
# The same for the Web UI and docker-compose.yml's `temporal-ui`: the dev server's UI behaves so
# too (plain-HTTP cookies on a loopback address, no "new version" banner in a pinned deployment).
UI_SETTINGS = {
    "TEMPORAL_DEFAULT_NAMESPACE": NAMESPACE,
    "TEMPORAL_CSRF_COOKIE_INSECURE": "true",
    "TEMPORAL_NOTIFY_ON_NEW_VERSION": "false",
}
# This machine's own ports, clear of the dev server's 7233-7239 and 6933-6939.
_SERVER_PORTS = {
    "FRONTEND_GRPC_PORT": FRONTEND_PORT,
    "FRONTEND_HTTP_PORT": 7244,
    "HISTORY_GRPC_PORT": 7245,
    "MATCHING_GRPC_PORT": 7246,
    "WORKER_GRPC_PORT": 7249,
    "FRONTEND_MEMBERSHIP_PORT": 6943,
    "HISTORY_MEMBERSHIP_PORT": 6945,
    "MATCHING_MEMBERSHIP_PORT": 6946,
    "WORKER_MEMBERSHIP_PORT": 6949,
}
# Seconds a component gets to come up (the first start of the server creates its system namespace).
READY_TIMEOUT = 120
# A worker finishing its in-flight tasks on SIGTERM; the servers stop within seconds.
STOP_GRACE_SECONDS = {"worker": 30.0, "temporal-server": 20.0, "temporal-ui": 10.0}


def postgres() -> PostgresServer:
    return PostgresServer(CLUSTER_DIR / "postgres", POSTGRES_PORT)


def store_url() -> str:
    return postgres().url(STORE_DATABASE)


def env_lines() -> list[str]:
    """`export` lines that point the CLI, `make worker`, the bench and the tests at the cluster."""
    return [
        f"export TEMPORAL_ADDRESS={TEMPORAL_ADDRESS}",
        f"export DATABASE_URL={store_url()}",
        f"export TEMPORAL_UI_URL={UI_URL}",
    ]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class Process:
    """One long-running program of the cluster: started detached, its pid in `.data/cluster/run`."""

    name: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    # A word of its command line: a pid file whose number now belongs to another program is stale.
    marker: str = ""

    @property
    def pid_file(self) -> Path:
        return PIDS / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"

    def pid(self) -> int | None:
        """Its pid while it runs, else None."""
        try:
            pid = int(self.pid_file.read_text())
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        return pid if self.marker in command_line and state != "Z" else None

    def alive(self) -> bool:
        """Whether the process this checkout just started still runs. Unlike `pid`, no marker check:
        between fork and exec a new process still shows Python's command line."""
        try:
            pid = int(self.pid_file.read_text())
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return False
        return state != "Z"

    def start(self) -> int:
        LOGS.mkdir(parents=True, exist_ok=True)
        PIDS.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:
            log.write(f"\n--- started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {' '.join(self.command)}\n")
            log.flush()
            process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment,
                cwd=REPO_ROOT,
                # Its own session: Ctrl-C in the terminal that ran `make cluster` does not reach it.
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        return process.pid

    def stop(self, grace_seconds: float) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.pid() is not None:
                _say(f"  {self.name} did not stop within {grace_seconds:.0f} s: SIGKILL")
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _base_environment() -> dict[str, str]:
    """Only what a Go server needs from ours: its config comes from the variables we set."""
    return {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TZ") if name in os.environ}


def temporal_server(binary: Path) -> Process:
    pg = postgres()
    environment = {
        **_base_environment(),
        **SERVER_SETTINGS,
        **{name: str(port) for name, port in _SERVER_PORTS.items()},
        "BIND_ON_IP": "127.0.0.1",
        "POSTGRES_SEEDS": "127.0.0.1",
        "DB_PORT": str(POSTGRES_PORT),
        "POSTGRES_USER": pg.user,
        "POSTGRES_PWD": pg.password,
        "DYNAMIC_CONFIG_FILE_PATH": str(DYNAMIC_CONFIG),
        "PROMETHEUS_ENDPOINT": SERVER_METRICS,
    }
    # No --config: the server renders the config template built into it, as its image does.
    command = [str(binary), "start", *[f"--service={s}" for s in ("frontend", "history", "matching", "worker")]]
    return Process("temporal-server", command, environment, marker=str(binary))


def temporal_ui(binary: Path) -> Process:
    root = CLUSTER_DIR / "ui"
    environment = {
        **_base_environment(),
        **UI_SETTINGS,
        "TEMPORAL_ADDRESS": TEMPORAL_ADDRESS,
        "TEMPORAL_UI_PORT": str(UI_PORT),
        "TEMPORAL_ROOT": str(root),
        "TEMPORAL_CONFIG_DIR": "config",
        "TEMPORAL_ENVIRONMENT": "docker",
    }
    return Process("temporal-ui", [str(binary), "start"], environment, marker=str(binary))


def worker(number: int) -> Process:
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": TEMPORAL_ADDRESS,
        "TEMPORAL_NAMESPACE": NAMESPACE,
        "TEMPORAL_UI_URL": UI_URL,
        "DATABASE_URL": store_url(),
        "PARTNERSHIPS_TASK_QUEUE": TASK_QUEUE,
        "PARTNERSHIPS_METRICS_PORT": str(WORKER_METRICS_PORTS[number - 1]),
        "PYTHONUNBUFFERED": "1",
    }
    return Process(f"worker-{number}", [sys.executable, "worker.py"], environment, marker="worker.py")


def processes() -> list[Process]:
    """In start order; `stop` goes the other way."""
    return [
        temporal_server(builds.TEMPORAL_SERVER.path),
        temporal_ui(builds.TEMPORAL_UI_SERVER.path),
        *(worker(n) for n in range(1, len(WORKER_METRICS_PORTS) + 1)),
    ]


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _refuse_taken_port(port: int, what: str) -> None:
    if _port_taken(port):
        sys.exit(
            f"Port {port} ({what}) is taken by something that is not this checkout's cluster "
            "(another checkout's? `make cluster-stop` there): stop it first."
        )


def _wait(what: str, ready: Callable[[], bool], process: Process | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready():
        if process is not None and not process.alive():
            sys.exit(f"{process.tail()}\n{what} exited at start; its log: {process.log}")
        if time.monotonic() > deadline:
            sys.exit(f"{what} was not ready within {READY_TIMEOUT} s; see {process.log if process else LOGS}")
        time.sleep(0.5)


def _sql_tool(binary: Path, database: str, *arguments: str) -> None:
    pg = postgres()
    environment = {
        **_base_environment(),
        "SQL_PLUGIN": "postgres12",
        "SQL_HOST": "127.0.0.1",
        "SQL_PORT": str(POSTGRES_PORT),
        "SQL_USER": pg.user,
        "SQL_PASSWORD": pg.password,
        "SQL_DATABASE": database,
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / "schema.log").open("a") as log:
        result = subprocess.run([str(binary), *arguments], env=environment, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        sys.exit(f"temporal-sql-tool {' '.join(arguments)} on {database} failed; see {LOGS / 'schema.log'}")


def set_up_schemas(sql_tool: Path) -> None:
    """Temporal's schemas as docker-compose's `temporal-schema` job applies them: set up once, then updated.

    The schemas are the ones built into temporal-sql-tool (`--schema-name`), so they always
    match the server built from the same release.
    """
    pg = postgres()
    for database, schema in SCHEMAS.items():
        pg.create_database(database)
        if pg.psql("SELECT to_regclass('public.schema_version') IS NOT NULL", database).strip() != "t":
            _say(f"  {database}: new schema ({schema})")
            _sql_tool(sql_tool, database, "setup-schema", "-v", "0.0")
        # Applies only the versions this database lacks: nothing on a cluster already at this release.
        _sql_tool(sql_tool, database, "update-schema", "--schema-name", schema)


async def _connect() -> Client:
    return await Client.connect(TEMPORAL_ADDRESS, namespace=NAMESPACE, data_converter=DATA_CONVERTER)


async def _server_ready() -> bool:
    try:
        client = await _connect()
        return await client.service_client.check_health()
    except (RuntimeError, RPCError):
        return False


async def _retry(what: str, attempt: Callable[[], Awaitable[object]], seconds: float = READY_TIMEOUT) -> None:
    """The frontend learns of a new namespace within seconds (its cache): try again until then."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            await attempt()
            return
        except RPCError as error:
            if time.monotonic() > deadline:
                sys.exit(f"{what} failed: {error.message}")
            await asyncio.sleep(1)


async def register_namespace_and_search_attributes() -> None:
    client = await _connect()

    async def register() -> None:
        try:
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(namespace=NAMESPACE, workflow_execution_retention_period=_duration(RETENTION))
            )
            _say(f"  namespace {NAMESPACE} registered (retention {RETENTION.days} days)")
        except RPCError as error:
            if error.status != RPCStatusCode.ALREADY_EXISTS:
                raise

    await _retry(f"registering namespace {NAMESPACE}", register)
    await _retry(
        f"namespace {NAMESPACE}",
        lambda: client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=NAMESPACE)),
    )

    async def add_missing() -> None:
        added = await register_missing(client, NAMESPACE)
        if added:
            _say(f"  search attributes registered: {', '.join(added)}")

    await _retry("registering the search attributes", add_missing)
    # Each service caches the namespace's search attributes: a partnership started now must find them.
    await _retry("the search attributes", lambda: _all_registered(client))


async def _all_registered(client: Client) -> None:
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=NAMESPACE))
    missing = [key.name for key in ALL_KEYS if key.name not in listed.custom_attributes]
    if missing:
        raise RPCError(f"not yet listed: {', '.join(missing)}", RPCStatusCode.UNAVAILABLE, b"")


def _duration(delta: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(delta)
    return duration


async def pollers() -> list[str]:
    """Identities (`pid@host`) of the workers polling the task queue for workflow tasks."""
    return await workflow_pollers(await _connect(), TASK_QUEUE)


def _polling_pids() -> set[int]:
    """The worker identities are `pid@host` (the SDK's default): which of our processes poll."""
    try:
        identities = asyncio.run(pollers())
    except (RuntimeError, RPCError):
        return set()
    return {int(identity.split("@")[0]) for identity in identities if identity.split("@")[0].isdigit()}


def _ui_ready() -> bool:
    try:
        with urllib.request.urlopen(f"{UI_URL}/api/v1/settings", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _write_ui_config(template: Path) -> None:
    folder = CLUSTER_DIR / "ui" / "config"
    folder.mkdir(parents=True, exist_ok=True)
    # Loopback only: the image's template binds every address, which a container may, this machine not.
    (folder / "base.yaml").write_text("host: 127.0.0.1\n")
    (folder / "docker.yaml").write_text(template.read_text())


def start() -> None:
    began = time.monotonic()
    binaries = builds.ensure_all()
    built = time.monotonic()
    pg = postgres()
    if not pg.initialised or not pg.running():
        _refuse_taken_port(POSTGRES_PORT, "PostgreSQL")
    _say(f"PostgreSQL on 127.0.0.1:{POSTGRES_PORT} ({pg.data_dir})")
    try:
        pg.start()
    except PostgresUnavailable as error:
        sys.exit(str(error))
    set_up_schemas(binaries[builds.TEMPORAL_SQL_TOOL.name])
    pg.create_database(STORE_DATABASE)

    server, ui, *workers = processes()
    if server.pid() is None:
        _refuse_taken_port(FRONTEND_PORT, "Temporal frontend")
        server.start()
    _say(f"Temporal server v{builds.TEMPORAL_SERVER_VERSION} on {TEMPORAL_ADDRESS} (log: {server.log})")
    _wait("The Temporal server", lambda: asyncio.run(_server_ready()), server)
    asyncio.run(register_namespace_and_search_attributes())

    _write_ui_config(binaries["ui-config"])
    if ui.pid() is None:
        _refuse_taken_port(UI_PORT, "Temporal Web UI")
        ui.start()
    _wait("The Web UI", _ui_ready, ui)
    _say(f"Web UI v{builds.TEMPORAL_UI_VERSION}: {UI_URL}/namespaces/{NAMESPACE}/workflows")

    for process in workers:
        if process.pid() is None:
            process.start()
    for process in workers:
        _wait(process.name, lambda p=process: p.pid() in _polling_pids(), process)  # type: ignore[misc]
    _say(f"{len(workers)} workers polling task queue {TASK_QUEUE!r} (logs: {LOGS}/worker-N.log)")
    _say(f"Store: {store_url()}")
    _say(f"Ready in {time.monotonic() - began:.0f} s (builds checked in {built - began:.0f} s). To use it:")
    _say('  eval "$(.venv/bin/python -m devtools.cluster env)"')


def stop() -> None:
    for process in reversed(processes()):
        if process.pid() is not None:
            _say(f"Stopping {process.name}")
        kind = "worker" if process.name.startswith("worker") else process.name
        process.stop(STOP_GRACE_SECONDS[kind])
    pg = postgres()
    if pg.initialised and pg.running():
        _say("Stopping PostgreSQL")
        pg.stop()
    _say(f"Stopped; all state stays in {CLUSTER_DIR}")


def status() -> bool:
    """Print what runs; True when everything does."""
    pg = postgres()
    up = pg.initialised and pg.running()
    lines = [f"postgresql       {'running' if up else 'stopped'}  127.0.0.1:{POSTGRES_PORT}  {pg.data_dir}"]
    where = {"temporal-server": TEMPORAL_ADDRESS, "temporal-ui": UI_URL}
    for process in processes():
        pid = process.pid()
        up = up and pid is not None
        state = f"running (pid {pid})" if pid else "stopped"
        place = where.get(process.name) or f"metrics :{process.environment.get('PARTNERSHIPS_METRICS_PORT')}"
        lines.append(f"{process.name:<16} {state:<20} {place}  {process.log}")
    print("\n".join(lines))
    if _port_taken(FRONTEND_PORT):
        try:
            print(f"task queue {TASK_QUEUE!r} polled by: {', '.join(asyncio.run(pollers())) or 'no worker'}")
        except RPCError as error:
            print(f"task queue {TASK_QUEUE!r}: {error.message}")
    return up


def main(argv: Sequence[str]) -> None:
    try:
        _run(argv)
        code = 0
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal client's native threads can crash the interpreter's shutdown (sdk-python #300;
    # seen here as make's "Segmentation fault" after "Ready"): everything is said, leave at once.
    os._exit(code)


def _run(argv: Sequence[str]) -> None:
    command = argv[0] if argv else "status"
    if command == "start":
        start()
    elif command == "stop":
        stop()
    elif command == "status":
        raise SystemExit(0 if status() else 1)
    elif command == "env":
        print("\n".join(env_lines()))
    elif command == "test-env":
        # For `make test-cluster`: what tests/conftest.py and the browser test read.
        print(f"PARTNERSHIPS_TEST_TEMPORAL_ADDRESS={TEMPORAL_ADDRESS} PARTNERSHIPS_TEST_TEMPORAL_UI_URL={UI_URL}")
    else:
        sys.exit(f"unknown command {command!r}: use start, stop, status, env or test-env")


if __name__ == "__main__":
    main(sys.argv[1:])
