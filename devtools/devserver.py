"""The embedded Temporal: the Temporal CLI's dev server, built once per machine from its Go module.

python -m devtools.devserver path     # build if missing, print the binary's path
python -m devtools.devserver start    # run start-dev with our search attributes
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from partnerships.adapters.config import EMBEDDED_UI_URL
from partnerships.adapters.web_ui import setup_lines
from partnerships.engine.visibility import ALL_KEYS

TEMPORAL_CLI_VERSION = "1.5.1"
# Newer tags carry a `replace` directive that `go install` refuses.
TEMPORAL_CLI_MODULE = f"github.com/temporalio/cli/cmd/temporal@v{TEMPORAL_CLI_VERSION}"

_SEARCH_ATTRIBUTE_TYPES = {
    "KEYWORD": "Keyword",
    "INT": "Int",
    "DATETIME": "Datetime",
    "TEXT": "Text",
    "BOOL": "Bool",
    "FLOAT": "Double",
    "KEYWORD_LIST": "KeywordList",
}


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "partnerships" / f"temporal-{TEMPORAL_CLI_VERSION}"


def temporal_binary() -> Path:
    """The Temporal CLI: $TEMPORAL_CLI if set, else the per-machine cache, built when missing."""
    configured = os.environ.get("TEMPORAL_CLI")
    if configured:
        return Path(configured)
    binary = cache_dir() / "temporal"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        sys.exit("The Temporal CLI is not built and Go is not installed: install Go, or set TEMPORAL_CLI.")
    print(
        f"Building the Temporal CLI v{TEMPORAL_CLI_VERSION} into {binary.parent} "
        "(once per machine; the first build takes a few minutes)...",
        file=sys.stderr,
        flush=True,
    )
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.parent / "build"
    environment = {**os.environ, "GOBIN": str(partial), "CGO_ENABLED": "0"}
    subprocess.run([go, "install", TEMPORAL_CLI_MODULE], check=True, env=environment)
    (partial / "temporal").rename(binary)
    print(f"Temporal CLI ready: {binary}", file=sys.stderr, flush=True)
    return binary


def search_attribute_flags() -> list[str]:
    flags = []
    for key in ALL_KEYS:
        flags += [
            "--search-attribute",
            f"{key.name}={_SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type.name]}",
        ]
    return flags


def start_dev_command(db_file: Path, port: int = 7233, ui_port: int = 8233) -> list[str]:
    return [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--ip",
        "127.0.0.1",
        "--log-level",
        "error",
        *search_attribute_flags(),
    ]


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "path"
    if command == "path":
        print(temporal_binary())
    elif command == "start":
        db_file = Path(os.environ.get("TEMPORAL_DB_FILE", ".data/temporal.db"))
        db_file.parent.mkdir(parents=True, exist_ok=True)
        binary = temporal_binary()
        # The list's columns live in each browser: the server can only point at the view.
        print("\n".join(setup_lines(EMBEDDED_UI_URL, "default")), file=sys.stderr, flush=True)
        os.execv(binary, start_dev_command(db_file))
    else:
        sys.exit(f"unknown command {command!r}: use 'path' or 'start'")


if __name__ == "__main__":
    main(sys.argv[1:])
