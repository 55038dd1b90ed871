"""What a partnership looks like to people: the Web UI's details, the read model's row, the
facts a message is written from, and who hears about what.

Pure functions of the domain state, so the workflow only decides *when* to show them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from partnerships.domain.charter import Person
from partnerships.domain.durations import moment
from partnerships.domain.lifecycle import Condition, GateReview, Hold, Partnership, TaskRef
from partnerships.domain.vocabulary import Phase, Step


def digest(text: str) -> bytes:
    """A short, stable digest (the same in every process, unlike hash()): for telling whether
    something changed without keeping it."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class PartnershipSnapshot(BaseModel):
    """One row of the read model: where a partnership stands, for lists and reports."""

    id: str
    slug: str
    partner: str
    tier: int
    leverage: str
    phase: str
    step: str
    awaiting: str
    last_gate_outcome: str | None
    rag: str | None
    end_reason: str | None
    started_at: datetime
    phase_started_at: datetime
    updated_at: datetime
    # Evidence an exit cut short before its review opened: the store keeps it for good.
    # (Evidence of a phase under way is in the workflow's state; writing it on every
    # correction would cost a record per Update.)
    evidence: dict[str, Any] = {}
    # "" in real time, "rehearsal: 1 week = …" for compressed time (None: a row from before it was kept).
    rehearsal: str | None = None
    # What falls due next and when (None: nothing is due, e.g. a closed partnership).
    next_deadline: str | None = None
    next_deadline_at: datetime | None = None

    def facts_digest(self) -> bytes:
        """Everything but the time it was taken, digested: two snapshots with equal facts need one
        write, and a cached workflow keeps 16 bytes to tell, not the facts (2 KiB and growing)."""
        return digest(self.model_dump_json(exclude={"updated_at"}))


def snapshot_of(p: Partnership, now: datetime) -> PartnershipSnapshot:
    last = p.reviews[-1] if p.reviews else None
    rag = p.scorecard.rag if p.scorecard else (p.rag_history[-1] if p.rag_history else None)
    deadline = next_deadline(p)
    return PartnershipSnapshot(
        id=p.workflow_id,
        slug=p.charter.slug,
        partner=p.charter.partner.name,
        tier=int(p.charter.tier),
        leverage=p.charter.leverage_strength.value,
        phase=p.phase.value,
        step=p.step.value,
        awaiting=p.awaiting(),
        last_gate_outcome=None
        if last is None or last.decision is None
        else f"{last.gate.value}:{last.decision.outcome.value}",
        rag=None if rag is None else rag.value,
        end_reason=p.end_reason,
        started_at=p.started_at,
        phase_started_at=p.phase_started_at,
        updated_at=now,
        evidence=p.evidence_at_end or {},
        rehearsal=p.time_scale.describe(),
        next_deadline=None if deadline is None else deadline[0],
        next_deadline_at=None if deadline is None else deadline[1],
    )


def next_deadline(p: Partnership) -> tuple[str, datetime] | None:
    """What falls due next and when, for the report's table: the deadline of the step under way.

    A wind-down has none here: its tasks join the partnership after the step that made them is
    recorded, so the report reads their due dates from the store's tasks instead.
    """
    if p.step is Step.SIGNING:
        return "charter expires unsigned", p.signing_deadlines()[2]
    if p.step is Step.RECOMMITMENT:
        return "re-commitment expires", p.signing_deadlines()[2]
    if p.step is Step.GATE_REVIEW and p.review is not None:
        # The end of the review window, as `awaiting` says; policy decides later (policy_at).
        return f"{p.review.label} decision due", p.review.remind_at
    if p.step is Step.ON_HOLD and p.hold is not None:
        return f"on hold: {p.hold.label} reopens", p.hold.until
    if p.step is Step.UNDERWAY and p.phase_ends_at is not None:
        gate = "QBR" if p.phase is Phase.RUN else f"{p.phase.value.capitalize()} gate review"
        return f"{gate} opens", p.phase_ends_at
    return None


def current_details(p: Partnership, latest: str, record_problem: str | None = None) -> str:
    """The Markdown the Web UI shows on the workflow's page: phase, latest event, the gate as it stands."""
    charter = p.charter
    lines = [f"## {charter.partner.name} — {p.phase_label()} ({p.step.value})", ""]
    if p.time_scale.is_rehearsal:
        lines += [f"**⏩ {p.time_scale.describe()}** (not a partnership of record)", ""]
    if record_problem:
        lines += [f"**⚠ The store refuses this partnership's record:** {record_problem}", ""]
    lines += [
        f"**Tier** {int(charter.tier)} · **Leverage** {charter.leverage_strength.value} · "
        f"**Metric** {charter.measurement.metric.name}",
        "",
        f"**Latest:** {latest}",
        "",
        f"**Awaiting:** {p.awaiting()}",
    ]
    evaluation = p.review.evaluation if p.review else None
    if evaluation is not None:
        lines += ["", "| criterion | measured | threshold | |", "|---|---|---|---|"]
        lines += [
            f"| {c.key} | {c.measured or 'not recorded'} | {c.threshold} | {'✅' if c.passed else '❌'} |"
            for c in evaluation.criteria
        ]
        lines.append(f"\n**Recommendation:** {evaluation.recommendation.value} — {evaluation.rationale}")
    if p.open_tasks:
        overdue = f" ({len(p.overdue_tasks)} overdue)" if p.overdue_tasks else ""
        lines += ["", f"**Open tasks:** {len(p.open_tasks)}{overdue}"]
    return "\n".join(lines)


def message_facts(p: Partnership) -> dict[str, Any]:
    """What every message about the partnership is written from (templates in charters/messages/)."""
    return {
        "rehearsal": p.time_scale.describe(),
        "partner": p.charter.partner.name,
        "slug": p.charter.slug,
        "tier": int(p.charter.tier),
        "phase": p.phase.value,
        "phase_label": p.phase_label(),
        "awaiting": p.awaiting(),
        "slack_channel": p.charter.governance.slack_channel,
        # A signing link names the charter it is for (adapters/links.py).
        "charter_hash": p.charter.content_hash(),
    }


def review_facts(review: GateReview) -> dict[str, Any]:
    """A review as a message shows it; the evidence stays in the store."""
    facts = review.model_dump(mode="json", exclude={"evidence", "basis"})
    facts["vote_lines"] = [v.describe() for v in review.votes]
    return facts


def hold_facts(hold: Hold, *, seconds: bool = False) -> dict[str, Any]:
    return {
        "label": hold.label,
        "reason": hold.reason,
        "since": moment(hold.since, seconds=seconds),
        "until": moment(hold.until, seconds=seconds),
    }


def condition_facts(condition: Condition, *, seconds: bool = False) -> dict[str, Any]:
    return {
        "id": condition.id,
        "title": condition.title,
        "owner": condition.owner,
        "due": moment(condition.due_at, seconds=seconds),
    }


def task_facts(task: TaskRef, *, seconds: bool = False) -> dict[str, Any]:
    """A task as a message lists it: what, whose, due when."""
    due = None if task.due_at is None else moment(task.due_at, seconds=seconds)
    return {"id": task.id, "title": task.title, "owner": task.owner, "due": due}


# ------------------------------------------------------------ who hears about what


def overdue_by_owner(p: Partnership, tasks: list[TaskRef]) -> list[tuple[Person, list[TaskRef]]]:
    """Overdue tasks grouped by the person who owns them (our decision owner for a name no longer
    in the charter), so each owner gets one reminder listing theirs."""
    grouped: dict[str, tuple[Person, list[TaskRef]]] = {}
    for task in tasks:
        owner = p.charter.person(task.owner) or p.charter.governance.decision_owners.us
        grouped.setdefault(owner.email, (owner, []))[1].append(task)
    return list(grouped.values())


def decision_owners(p: Partnership) -> list[Person]:
    owners = p.charter.governance.decision_owners
    return [owners.us, owners.partner]


def unsigned_owners(p: Partnership) -> list[Person]:
    owners = p.charter.governance.decision_owners
    by_side = {"us": owners.us, "partner": owners.partner}
    return [by_side[side.value] for side in p.unsigned_sides()]


def reviewers(p: Partnership) -> list[Person]:
    return list(p.charter.governance.reviewers)


def reviewers_yet_to_vote(p: Partnership) -> list[Person]:
    pending = set(p.not_yet_voted())
    return [r for r in p.charter.governance.reviewers if r.email in pending]


def escalation_path(p: Partnership) -> list[Person]:
    return list(p.charter.governance.escalation_path)
