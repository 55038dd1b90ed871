"""A partnership's whole record: the workflow's state completed by the store's history.

The workflow keeps the latest reviews; the store keeps every review and task. `show`
and its JSON read both, merged here so every door tells the same story.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from partnerships.adapters.store import Store
from partnerships.domain.lifecycle import Signature
from partnerships.domain.portfolio import PartnershipFacts, phase_periods
from partnerships.domain.vocabulary import Phase
from partnerships.engine.contracts import PartnershipStatus
from partnerships.service.report import load_partnership, review_facts_from_state


def status_facts(status: PartnershipStatus) -> dict[str, Any]:
    p = status.partnership
    return {
        "workflow_id": p.workflow_id,
        "slug": p.charter.slug,
        "partner": p.charter.partner.name,
        "tier": int(p.charter.tier),
        "leverage": p.charter.leverage_strength.value,
        "phase": p.phase.value,
        "step": p.step.value,
        "awaiting": status.awaiting,
        "crawl_attempt": p.crawl_attempt,
        "quarter": p.quarter,
        "phase_ends_at": p.phase_ends_at.isoformat() if p.phase_ends_at else None,
        "signatures": [s.model_dump(mode="json") for s in p.signatures],
        "gate": status.current_gate.model_dump(mode="json") | {"passed": status.current_gate.passed}
        if status.current_gate
        else None,
        "decisions": [
            {
                "review_id": r.id,
                "gate": r.gate.value,
                "label": r.label,
                "recommendation": r.evaluation.recommendation.value,
                "passed": r.evaluation.passed,
                **(r.decision.model_dump(mode="json") if r.decision else {}),
            }
            for r in p.reviews
        ],
        "open_tasks": [t.model_dump(mode="json") for t in p.open_tasks],
        "votes": [v.model_dump(mode="json") for v in p.review.votes] if p.review else [],
        "quorum": p.review.quorum if p.review else None,
        "hold": p.hold.model_dump(mode="json") if p.hold else None,
        "conditions": [c.model_dump(mode="json") for c in p.conditions],
        "end_reason": p.end_reason,
        "unreviewed_evidence": p.unreviewed_evidence(),
        "rehearsal": p.time_scale.describe() or None,
        "record_problem": status.record_problem,
    }


def full_record(current: PartnershipStatus, store: Store) -> dict[str, Any]:
    """The workflow's state, completed by the store (which keeps every review, not only the latest)."""
    p = current.partnership
    _, stored_reviews, tasks = load_partnership(store, p.workflow_id)
    reviews = {r.id: r for r in stored_reviews}
    # The workflow's copies are the freshest (the open review changes with new evidence).
    for review in [*p.reviews, *([p.review] if p.review else [])]:
        reviews[review.id] = review_facts_from_state(p.workflow_id, review)
    ordered = sorted(reviews.values(), key=lambda r: r.opened_at)
    facts = PartnershipFacts(
        id=p.workflow_id,
        slug=p.charter.slug,
        partner=p.charter.partner.name,
        tier=int(p.charter.tier),
        phase=p.phase.value,
        step=p.step.value,
        started_at=p.started_at,
        phase_started_at=p.phase_started_at,
        end_reason=p.end_reason,
    )
    now = datetime.now(UTC)
    return {
        "partnership": status_facts(current),
        "started_at": p.started_at,
        "signatures": [s.model_dump(mode="json") for s in p.signatures],
        "recommitments": [s.model_dump(mode="json") for s in p.recommitments],
        "phases": [
            {
                "phase": period.phase,
                "started_at": period.started_at,
                "ended_at": period.ended_at,
                "seconds": round(period.duration(now).total_seconds()),
            }
            for period in phase_periods(
                facts,
                ordered,
                tasks,
                signed_at=_both_signed_at(p.signatures),
                recommitted_at=_both_signed_at(p.recommitments) if p.phase in (Phase.RUN, Phase.COMPLETED) else None,
            )
        ],
        "reviews": [dataclasses.asdict(r) for r in ordered],
        "unreviewed_evidence": p.unreviewed_evidence(),
        "tasks": [dataclasses.asdict(t) for t in tasks],
    }


def _both_signed_at(signatures: list[Signature]) -> datetime | None:
    return max(s.signed_at for s in signatures) if len(signatures) == 2 else None
