"""The CLI in an 80-column terminal: help wraps, and ids people type back are never cut."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from partnerships.adapters.store import Store, TaskRow, make_engine
from partnerships.cli.app import app

NARROW = {"COLUMNS": "80", "LINES": "40"}


def _every_command() -> list[list[str]]:
    """Each command's words, from the root through every group."""
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        # Typer carries its own copy of click: a group is whatever has sub-commands.
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize("words", _every_command(), ids=lambda words: " ".join(words) or "partnerships")
def test_help_wraps_at_80_columns_and_cuts_nothing(words: list[str]) -> None:
    result = CliRunner().invoke(app, [*words, "--help"], env=NARROW)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line for line in lines if len(line) > 80] == []
    # Click shortens a command's summary with "..." when it does not fit: summaries must fit.
    assert [line for line in lines if line.rstrip().endswith(("...", "…")) and "Usage:" not in line] == []


def _store_with_tasks(folder: Path) -> tuple[str, list[TaskRow]]:
    url = f"sqlite:///{folder / 'store.db'}"
    now = datetime.now(UTC)
    workflow_id = "partnership-a-partner-with-a-rather-long-slug-indeed"
    rows = [
        TaskRow(
            id=f"{workflow_id}:walk-1:formal-integration",
            partnership_id=workflow_id,
            kind="walk-kickoff",
            title="Build the formal integration with A Partner With A Rather Long Name, Incorporated",
            description="",
            owner="sam@a-partner-with-a-long-domain.example",
            created_at=now - timedelta(days=30),
            due_at=now - timedelta(days=2),
        ),
        TaskRow(
            id=f"{workflow_id}:walk-1:co-marketing",
            partnership_id=workflow_id,
            kind="walk-kickoff",
            title="Run the co-marketing launch",
            description="",
            owner="dana@ourco.example",
            created_at=now,
            due_at=now + timedelta(days=20),
        ),
    ]
    with Store(make_engine(url)).session() as session:
        session.add_all([r.model_copy() for r in rows])
        session.commit()
    return url, rows


def test_tasks_at_80_columns_show_every_id_whole_and_flag_the_overdue_one(tmp_path: Path) -> None:
    url, rows = _store_with_tasks(tmp_path)
    result = CliRunner().invoke(app, ["tasks"], env={**NARROW, "DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Each id whole on a line of its own (so it can be copied), the overdue one flagged.
    assert f"{rows[0].id} OVERDUE" in lines
    assert rows[1].id in lines
    assert all(len(line) <= 80 or line.startswith("partnership-") for line in lines)


def test_tasks_filter_the_overdue_ones_and_say_so_in_json(tmp_path: Path) -> None:
    url, rows = _store_with_tasks(tmp_path)
    result = CliRunner().invoke(app, ["tasks", "--overdue", "--json"], env={**NARROW, "DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(t["id"], t["overdue"]) for t in listed] == [(rows[0].id, True)]


def test_a_wide_terminal_gets_a_table_with_whole_ids(tmp_path: Path) -> None:
    url, rows = _store_with_tasks(tmp_path)
    result = CliRunner().invoke(app, ["tasks"], env={"COLUMNS": "220", "DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("┏")  # a table
    for row in rows:
        assert any(f"│ {row.id} " in line and row.title[:20] in line for line in lines)
    overdue = next(line for line in lines if rows[0].id in line)
    assert "overdue" in overdue
