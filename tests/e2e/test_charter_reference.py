"""A new charter from the command line, as a person writes one: template, check, schema (no server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from partnerships.adapters.charter_reference import MODELINE, SCHEMA_FILE
from tests.helpers import filled_in

PARTNERSHIPS = str(Path(sys.executable).parent / "partnerships")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PARTNERSHIPS, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)


def test_a_new_charter_is_written_once_checked_until_filled_in_and_then_valid(tmp_path: Path) -> None:
    made = _run("charter", "new", "initech.yaml", "--tier", "3", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    text = (tmp_path / "initech.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE and "\ntier: 3\n" in text
    assert "partnerships charter schema -o charter.schema.json" in made.stdout

    again = _run("charter", "new", "initech.yaml", cwd=tmp_path)
    assert again.returncode == 1
    assert (
        again.stderr.strip() == "error: initech.yaml: already exists; choose another name, or --force to overwrite it"
    )
    assert (tmp_path / "initech.yaml").read_text(encoding="utf-8") == text

    unfilled = _run("charter", "check", "initech.yaml", cwd=tmp_path)
    assert unfilled.returncode == 1 and "Traceback" not in unfilled.stderr
    assert "error: partner.kind: still the template's placeholder; write your own value" in unfilled.stderr.splitlines()

    (tmp_path / "initech.yaml").write_text(filled_in(text), encoding="utf-8")
    checked = _run("charter", "check", "initech.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "a valid charter for Acme Analytics (tier 3, high leverage" in checked.stdout
    assert "warning" not in checked.stdout

    forced = _run("charter", "new", "initech.yaml", "--tier", "1", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "\ntier: 1\n" in (tmp_path / "initech.yaml").read_text(encoding="utf-8")


def test_the_printed_schema_is_the_committed_one_and_can_be_written_beside_other_charters(tmp_path: Path) -> None:
    printed = _run("charter", "schema", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == SCHEMA_FILE.read_text(encoding="utf-8")

    written = _run("charter", "schema", "-o", "charter.schema.json", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "charter.schema.json").read_text(encoding="utf-8") == printed.stdout
    made = _run("charter", "new", "next.yaml", cwd=tmp_path)
    assert "charter schema -o" not in made.stdout  # the schema is already beside it
