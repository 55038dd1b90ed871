"""How the CLI draws things with Rich: gate tables, the full record, cells of the portfolio table."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from partnerships.cli.app import out
from partnerships.domain.durations import moment

if TYPE_CHECKING:
    from partnerships.adapters.store import TaskRow
    from partnerships.domain.gates import GateEvaluation
    from partnerships.engine.contracts import PartnershipStatus


def print_gate(evaluation: GateEvaluation, title: str) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("criterion", "measured", "threshold", ""):
        table.add_column(column)
    for c in evaluation.criteria:
        table.add_row(
            c.question,
            c.measured or "[dim]not recorded[/dim]",
            c.threshold,
            "[green]pass[/green]" if c.passed else "[red]fail[/red]",
        )
    out.print(table)
    out.print(f"recommendation: [bold]{evaluation.recommendation.value}[/bold] — {evaluation.rationale}")


def deadline_cell(row: dict[str, Any]) -> str:
    deadline = row["next_deadline"]
    text = "" if deadline is None else moment(datetime.fromisoformat(deadline))
    if row["overdue"]:
        text = f"[bold red]{text} overdue[/bold red]"
    if row.get("overdue_tasks"):
        text += f"{' · ' if text else ''}[bold red]{row['overdue_tasks']} task(s) overdue[/bold red]"
    return text


_RAG_STYLES = {"red": "bold red", "amber": "bold yellow", "green": "bold green"}


def rag_cell(rag: str | None) -> str:
    return f"[{_RAG_STYLES.get(rag, 'bold')}]{rag}[/]" if rag else ""


def rows_as_json(rows: list[dict[str, Any]]) -> str:
    """A JSON array with one row per line: grep-able, and written by json's C encoder (`indent=`
    falls back to the pure-Python one: a tenth of a second per thousand portfolio rows)."""
    lines = ",\n".join(f"  {json.dumps(row)}" for row in rows)
    return f"[\n{lines}\n]\n" if rows else "[]\n"


def json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _when(value: datetime | str | None) -> str:
    at = _aware(value)
    return "" if at is None else moment(at)


def print_heading(current: PartnershipStatus) -> None:
    """Who, where, whether it is a rehearsal or its record is refused, and what it waits for."""
    p = current.partnership
    out.print(f"[bold]{escape(p.charter.partner.name)}[/bold] [dim]{p.workflow_id}[/dim]")
    out.print(
        f"tier {int(p.charter.tier)} · {p.charter.leverage_strength.value} leverage · "
        f"[bold cyan]{p.phase_label()}[/bold cyan] ({p.step.value})"
    )
    if p.time_scale.is_rehearsal:
        out.print(f"[yellow]⏩ {p.time_scale.describe()}[/yellow] (not a partnership of record)")
    if current.record_problem:
        out.print(f"[bold red]the store refuses this partnership's record:[/bold red] {escape(current.record_problem)}")
    out.print(f"awaiting: {escape(current.awaiting)}")


def print_record(current: PartnershipStatus, record: dict[str, Any]) -> None:
    p = current.partnership
    print_heading(current)
    if p.end_reason:
        out.print(f"ended: {escape(p.end_reason)}")
    out.print(f"\n[bold]Charter[/bold] {p.charter.content_hash()}\n  sent for signature {_when(p.started_at)}")
    for s in p.signatures:
        signed = f" charter {s.charter_hash[:19]}…" if s.charter_hash else ""
        out.print(f"  signed by {escape(s.name)} ({s.side.value}) {_when(s.signed_at)}{signed}")
    for s in p.recommitments:
        out.print(f"  re-committed to Run: {escape(s.name)} ({s.side.value}) {_when(s.signed_at)}")
    if p.amendment is not None:
        signed = ", ".join(s.name for s in p.amendment.signatures) or "nobody yet"
        out.print(
            f"  amendment {p.amendment.content_hash[:19]}… proposed by {escape(p.amendment.proposed_by)} "
            f"{_when(p.amendment.proposed_at)}: {escape(p.amendment.reason)} (signed by {escape(signed)})"
        )
    for version in p.charter_versions:
        names = ", ".join(s.name for s in version.signatures) or "nobody"
        out.print(
            f"  earlier version {version.content_hash[:19]}… signed by {escape(names)}, replaced "
            f"{_when(version.replaced_at)} ({escape(version.replaced_by)}: {escape(version.reason)})"
        )
    for change in p.key_changes:
        what = f"added a key for {change.person}" if change.added else f"revoked a key of {change.person}"
        out.print(f"  {escape(change.by_name)} {what} {_when(change.at)}")
    _print_phases(record["phases"])
    for review in record["reviews"]:
        _print_review(review)
    unreviewed = record.get("unreviewed_evidence") or {}
    if unreviewed:
        # Recorded, but no review has weighed it yet (or the partnership ended before one opened).
        out.print("\n[bold]Evidence not yet reviewed[/bold]")
        for line in _evidence_lines(unreviewed):
            out.print(f"  evidence · {escape(line)}")
    _print_tasks(record["tasks"])


def _print_phases(phases: list[dict[str, Any]]) -> None:
    from partnerships.domain.durations import humanize

    table = Table(title="Phases", title_justify="left")
    for column in ("phase", "from", "to", "time"):
        table.add_column(column)
    for period in phases:
        table.add_row(
            period["phase"],
            _when(period["started_at"]),
            _when(period["ended_at"]) or "[dim]now[/dim]",
            humanize(timedelta(seconds=period["seconds"])),
        )
    out.print(table)


def _evidence_lines(evidence: dict[str, Any]) -> list[str]:
    def describe(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, ""))
        if isinstance(value, list):
            return "; ".join(describe(item) for item in value) or "none"
        return "not recorded" if value is None else str(value)

    return [f"{key}: {describe(value)}" for key, value in evidence.items()]


def _print_review(review: dict[str, Any]) -> None:
    out.print(
        f"\n[bold]{escape(review['label'])}[/bold] [dim]{review['id']} · opened {_when(review['opened_at'])}[/dim]"
    )
    for line in _evidence_lines(review["evidence"]):
        out.print(f"  evidence · {escape(line)}")
    for c in review["criteria"]:
        verdict = "[green]pass[/green]" if c["passed"] else "[red]fail[/red]"
        measured = escape(c["measured"] or "not recorded")
        out.print(f"  {verdict} {escape(c['question'])} — {measured} (needs {escape(c['threshold'])})")
    out.print(f"  recommendation: [bold]{review['recommendation']}[/bold] — {escape(review['rationale'])}")
    if review["outcome"] is None:
        out.print("  decision: [yellow]awaited[/yellow]")
        return
    flags = "[bold red] OVERRIDE[/bold red]" if review["overrides_failing_gate"] else ""
    # A decision by policy has no person behind it: say so once, and why.
    who = (
        "[bold magenta]by policy[/bold magenta]"
        if review["by_policy"]
        else f"by {escape(review['decided_by_name'] or '')} <{escape(review['decided_by'] or '')}>"
    )
    out.print(
        f"  decision: [bold]{review['outcome']}[/bold]{flags} {who} {_when(review['decided_at'])}"
        + (f" — {escape(review['reason'])}" if review["reason"] else "")
    )


def _print_tasks(tasks: list[dict[str, Any]]) -> None:
    if not tasks:
        out.print("\n[dim]no tasks in the store[/dim]")
        return
    out.print("\n[bold]Tasks[/bold]")
    print_tasks([TaskLine.from_record(t, datetime.now(UTC)) for t in tasks])


@dataclass(frozen=True)
class TaskLine:
    """A task as the terminal shows it, whether it came from the store or from `show`'s record."""

    id: str
    title: str
    owner: str
    status: str
    due_at: datetime | None
    closed: str
    overdue: bool

    @classmethod
    def of(cls, row: TaskRow, now: datetime) -> TaskLine:
        return cls.from_record(row.model_dump(), now)

    @classmethod
    def from_record(cls, task: dict[str, Any], now: datetime) -> TaskLine:
        due = _aware(task["due_at"])
        closed = f"{task['status']} {_when(task['closed_at'])} by {task['closed_by']}" if task["closed_at"] else ""
        return cls(
            id=task["id"],
            title=task["title"],
            owner=task["owner"],
            status=task["status"],
            due_at=due,
            closed=closed,
            overdue=task["status"] == "open" and due is not None and due < now,
        )


def task_json(row: TaskRow) -> dict[str, Any]:
    """A stored task as JSON, its times with their time zone (SQLite hands them back naive)."""
    data = row.model_dump(mode="json")
    for field in ("created_at", "due_at", "closed_at"):
        moment = _aware(getattr(row, field))
        data[field] = moment.isoformat() if moment else None
    return data


# Below this many columns a table would squeeze task ids: each task gets its own lines instead.
WIDE_ENOUGH_FOR_TABLES = 110
# A task table's title and status columns at their narrowest readable width, with the borders.
TITLE_AND_STATUS_COLUMNS = 50


def print_tasks(tasks: list[TaskLine]) -> None:
    """Task ids are typed back by people (`task done ID`): never cut, never broken across lines."""
    if not tasks:
        out.print("[dim]no task matches[/dim]")
        return
    # A table only where every id, owner and due date fits beside a readable title.
    needed = max(len(t.id) for t in tasks) + max(len(t.owner) for t in tasks) + len("2026-01-01 00:00 UTC overdue")
    if out.width < max(WIDE_ENOUGH_FOR_TABLES, needed + TITLE_AND_STATUS_COLUMNS):
        for t in tasks:
            flag = " [bold red]OVERDUE[/bold red]" if t.overdue else ""
            out.print(f"[bold]{escape(t.id)}[/bold]{flag}", overflow="ignore", crop=False)
            due = f" · due {moment(t.due_at)}" if t.due_at else ""
            for line in _indented(t.title):
                out.print(escape(line))
            for line in _indented(f"{t.owner}{due} · {t.closed or t.status}"):
                out.print(f"[dim]{escape(line)}[/dim]")
        return
    table = Table()
    table.add_column("task", no_wrap=True, overflow="ignore")
    table.add_column("title", ratio=1)
    table.add_column("owner", no_wrap=True)
    table.add_column("due", no_wrap=True)
    table.add_column("status")
    for t in tasks:
        due = moment(t.due_at) if t.due_at else ""
        table.add_row(
            escape(t.id),
            escape(t.title),
            escape(t.owner),
            f"[bold red]{due} overdue[/bold red]" if t.overdue else due,
            escape(t.closed or t.status),
        )
    out.print(table)


def _indented(text: str) -> list[str]:
    return textwrap.wrap(text, width=out.width, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    # SQLite hands back naive datetimes; the engine writes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
