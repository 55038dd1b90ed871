"""A PostgreSQL server of this machine's own (Debian's PostgreSQL 15), for `make cluster` and tests.

No Docker here: the server runs from `/usr/lib/postgresql/<version>/bin` on a data folder
we own, listening on 127.0.0.1 only, with password authentication. `initdb` and `postgres`
refuse to run as root, so as root they run as the unprivileged `postgres` user (the folder
is handed to that user); as anyone else they run as that person.

    cluster = PostgresServer(Path(".data/cluster/postgres"), port=5433)
    cluster.start()                       # initialises the folder the first time
    url = cluster.create_database("partnerships")
    cluster.stop()                        # the folder keeps every database
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

POSTGRES_VERSION = os.environ.get("PARTNERSHIPS_POSTGRES_VERSION", "15")
POSTGRES_BIN = Path(os.environ.get("PARTNERSHIPS_POSTGRES_BIN", f"/usr/lib/postgresql/{POSTGRES_VERSION}/bin"))
# A development password on a loopback-only server; a real deployment sets its own (README).
DEFAULT_USER = "partnerships"
DEFAULT_PASSWORD = "partnerships"
RUN_AS = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed where expected, or did not start."""


def postgres_available() -> bool:
    return (POSTGRES_BIN / "initdb").exists() and (POSTGRES_BIN / "pg_ctl").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, command: Sequence[str], *, check: bool = True, env: dict[str, str] | None = None) -> str:
        """Run a PostgreSQL program as the user it must run as; its output (stdout and stderr)."""
        full = [*(["runuser", "-u", RUN_AS, "--"] if self._as_root else []), *command]
        result = subprocess.run(
            full, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd="/", check=False
        )
        if check and result.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command[:2])} failed: {(result.stderr or result.stdout).strip()}")
        return result.stdout + result.stderr

    @property
    def _pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def initialised(self) -> bool:
        return (self._pgdata / "PG_VERSION").exists()

    def initialise(self) -> None:
        """A new cluster with a superuser `user` who logs in with `password` (scram-sha-256)."""
        if not postgres_available():
            raise PostgresUnavailable(f"PostgreSQL {POSTGRES_VERSION} is not installed in {POSTGRES_BIN}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        password_file = self.data_dir / "initdb-password"
        password_file.write_text(self.password + "\n")
        if self._as_root:
            owner = pwd.getpwnam(RUN_AS)
            for path in (self.data_dir, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        try:
            self._run(
                [
                    str(POSTGRES_BIN / "initdb"),
                    "--pgdata",
                    str(self._pgdata),
                    "--username",
                    self.user,
                    "--pwfile",
                    str(password_file),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                ]
            )
        finally:
            password_file.unlink(missing_ok=True)

    def running(self) -> bool:
        return "server is running" in self._run(
            [str(POSTGRES_BIN / "pg_ctl"), "status", "-D", str(self._pgdata)], check=False
        )

    def start(self, timeout_seconds: int = 60) -> None:
        """Start it (initialising the folder the first time); returns once it accepts connections."""
        if not self.initialised:
            self.initialise()
        if self.running():
            return
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self._pgdata}"
        self._run(
            [
                str(POSTGRES_BIN / "pg_ctl"),
                "start",
                "-D",
                str(self._pgdata),
                "-l",
                str(self.data_dir / "postgres.log"),
                "-o",
                options + " -c max_connections=200",
                "-w",
                "-t",
                str(timeout_seconds),
            ]
        )
        deadline = time.monotonic() + timeout_seconds
        while not self._accepts_connections():
            if time.monotonic() > deadline:
                raise PostgresUnavailable(
                    f"PostgreSQL did not accept connections; see {self.data_dir / 'postgres.log'}"
                )
            time.sleep(0.2)

    def _accepts_connections(self) -> bool:
        result = subprocess.run(
            [str(POSTGRES_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def stop(self) -> None:
        if self.initialised and self.running():
            self._run([str(POSTGRES_BIN / "pg_ctl"), "stop", "-D", str(self._pgdata), "-m", "fast", "-w"])

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            [
                shutil.which("psql") or str(POSTGRES_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
            env={"PGPASSWORD": self.password},
        )

    def create_database(self, name: str) -> str:
        """The database (created unless it exists) as a SQLAlchemy URL for the engine's store."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name: {name!r} is not a plain identifier")
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() != "1":
            self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name: {name!r} is not a plain identifier")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"
