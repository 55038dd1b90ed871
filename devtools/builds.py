"""The Go programs behind `make cluster`, built once per machine into ~/.cache/partnerships.

Like the Temporal CLI (`devserver.py`): `go install` into a `build/` folder beside the
final name, then a rename, so a half-built binary is never taken for a built one. A build
prints where it goes, a line of progress every half minute, and its log's tail if it fails.

    python -m devtools.builds     # build whatever is missing; print each binary's path
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Later tags need a newer Go than these machines have (go1.26 builds 1.32.0; see issue 13).
TEMPORAL_SERVER_VERSION = "1.32.0"
# The Web UI the dev server bundles (Temporal CLI v1.5.1): the cluster shows the same UI.
TEMPORAL_UI_VERSION = "2.42.1"
# temporal-sql-tool applies the schemas built into it; a copy of the files is kept to read
# (tests/unit/test_search_attribute_limits.py checks our attributes against the columns).
SCHEMA_SUBDIR = Path("schema") / "postgresql" / "v12"
UI_CONFIG_TEMPLATE = Path("config") / "docker.yaml"
PROGRESS_EVERY_SECONDS = 30


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "partnerships"


@dataclass(frozen=True)
class GoProgram:
    """One `go install` target and the name it keeps in the per-machine cache."""

    title: str
    module: str
    package: str
    version: str
    installed_as: str  # the name `go install` gives it (both servers are called `server`)
    name: str
    folder: str
    minutes: str  # how long the first build takes on 2 cores, for the message

    @property
    def directory(self) -> Path:
        return cache_root() / self.folder

    @property
    def path(self) -> Path:
        return self.directory / self.name

    @property
    def target(self) -> str:
        return f"{self.package}@v{self.version}"


TEMPORAL_SERVER = GoProgram(
    title=f"the Temporal server v{TEMPORAL_SERVER_VERSION}",
    module="go.temporal.io/server",
    package="go.temporal.io/server/cmd/server",
    version=TEMPORAL_SERVER_VERSION,
    installed_as="server",
    name="temporal-server",
    folder=f"temporal-server-{TEMPORAL_SERVER_VERSION}",
    minutes="8 to 15",
)
TEMPORAL_SQL_TOOL = GoProgram(
    title=f"temporal-sql-tool v{TEMPORAL_SERVER_VERSION}",
    module="go.temporal.io/server",
    package="go.temporal.io/server/cmd/tools/sql",
    version=TEMPORAL_SERVER_VERSION,
    installed_as="sql",
    name="temporal-sql-tool",
    folder=f"temporal-server-{TEMPORAL_SERVER_VERSION}",
    minutes="1 to 3 (after the server)",
)
TEMPORAL_UI_SERVER = GoProgram(
    title=f"the Temporal Web UI server v{TEMPORAL_UI_VERSION}",
    module="github.com/temporalio/ui-server/v2",
    package="github.com/temporalio/ui-server/v2/cmd/server",
    version=TEMPORAL_UI_VERSION,
    installed_as="server",
    name="temporal-ui-server",
    folder=f"temporal-ui-{TEMPORAL_UI_VERSION}",
    minutes="2 to 5",
)
PROGRAMS = (TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _go() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        sys.exit("The cluster's Temporal binaries are not built and Go is not installed: install Go (1.24 or later).")
    return go


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One build per folder at a time: a second `make cluster` waits for the first's binaries."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _runs(binary: Path) -> bool:
    """A finished binary answers --version (a build interrupted mid-copy does not)."""
    try:
        return subprocess.run([binary, "--version"], capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _progress(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    downloaded = sum(1 for line in lines if line.startswith("go: downloading"))
    compiled = sum(1 for line in lines if not line.startswith("go: "))
    return f"{downloaded} modules downloaded, {compiled} packages compiled"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _go_install(program: GoProgram, into: Path) -> None:
    logs = cache_root() / "build-logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{program.name}-{program.version}.log"
    _say(
        f"Building {program.title} into {program.directory} "
        f"(once per machine; the first build takes {program.minutes} minutes; log: {log})..."
    )
    environment = {**os.environ, "GOBIN": str(into), "CGO_ENABLED": "0"}
    started = time.monotonic()
    with log.open("w") as output:
        # -v names each package as it is compiled: the progress lines count them.
        process = subprocess.Popen(
            [_go(), "install", "-v", program.target], stdout=output, stderr=subprocess.STDOUT, env=environment
        )
        reported = started
        while process.poll() is None:
            time.sleep(1)
            if time.monotonic() - reported >= PROGRESS_EVERY_SECONDS:
                reported = time.monotonic()
                _say(f"  ... {program.name}: {_progress(log)}, {_minutes(reported - started)}")
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        sys.exit(f"{tail}\nBuilding {program.title} failed (exit {process.returncode}); the whole log: {log}")
    _say(f"  {program.name} built: {_progress(log)} in {_minutes(time.monotonic() - started)}")


def ensure(program: GoProgram) -> Path:
    """The program's binary in the cache, built when missing (reusing a finished `build/` one)."""
    if program.path.exists():
        return program.path
    with _locked(program.directory):
        if program.path.exists():  # built by the process we waited for
            return program.path
        partial = program.directory / "build"
        built = partial / program.installed_as
        if not (built.exists() and _runs(built)):
            _go_install(program, partial)
        built.rename(program.path)
    _say(f"{program.title} ready: {program.path}")
    return program.path


def _module_dir(module: str, version: str) -> Path:
    """The module's source in Go's module cache (downloaded again if the cache was cleaned)."""
    result = subprocess.run(
        [_go(), "mod", "download", "-json", f"{module}@v{version}"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"go mod download {module}@v{version} failed: {result.stderr.strip() or result.stdout.strip()}")
    return Path(json.loads(result.stdout)["Dir"])


def _kept_from_module(program: GoProgram, relative: Path) -> Path:
    """Files a binary needs from its module's source, copied beside it (Go's module cache may be cleaned)."""
    kept = program.directory / relative
    if not kept.exists():
        with _locked(program.directory):
            if not kept.exists():
                source = _module_dir(program.module, program.version) / relative
                partial = kept.with_name(kept.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                partial.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():
                    shutil.copytree(source, partial)
                else:
                    shutil.copyfile(source, partial)
                # The module cache is read-only; the copies must be removable with our cache.
                for path in (partial, *partial.rglob("*")):
                    path.chmod(0o755 if path.is_dir() else 0o644)
                partial.rename(kept)
    return kept


def schema_dir() -> Path:
    """PostgreSQL schemas of this server version (`temporal/`, `visibility/`), as files to read."""
    return _kept_from_module(TEMPORAL_SERVER, SCHEMA_SUBDIR)


def ui_config_template() -> Path:
    """The Web UI server's `docker.yaml`: the template the temporalio/ui image renders from its environment."""
    return _kept_from_module(TEMPORAL_UI_SERVER, UI_CONFIG_TEMPLATE)


def ensure_all() -> dict[str, Path]:
    paths = {program.name: ensure(program) for program in PROGRAMS}
    paths["schema"] = schema_dir()
    paths["ui-config"] = ui_config_template()
    return paths


def main() -> None:
    for name, path in ensure_all().items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
