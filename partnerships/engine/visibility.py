"""Search attributes: what the Temporal Web UI can filter and sort partnerships by.

Registered on the dev server at start (see `devserver.py`) and in docker-compose;
upserted by the workflow on every change, naming only the attributes that changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from partnerships.domain import views
from partnerships.domain.charter import Charter
from partnerships.domain.lifecycle import Partnership, Phase, Step, TimeScale
from partnerships.engine.search_attributes import (  # noqa: F401 - re-exported: the keys are part of this module's story
    ALL_KEYS,
    LAST_GATE_OUTCOME,
    LEVERAGE,
    NEXT_DEADLINE,
    OVERDUE_TASKS,
    PARTNER,
    PHASE,
    PHASE_STARTED_AT,
    RAG_STATUS,
    REVIEW_DEADLINE,
    STEP,
    TIER,
    TIME_SCALE,
    register_missing,
)


def initial_search_attributes(charter: Charter, scale: TimeScale) -> list[SearchAttributePair]:
    """Set when the workflow starts, so a new partnership is filterable at once."""
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(PHASE, Phase.CHARTER.value),
        SearchAttributePair(STEP, Step.SIGNING.value),
        SearchAttributePair(PARTNER, charter.partner.name),
        SearchAttributePair(TIER, int(charter.tier)),
        SearchAttributePair(LEVERAGE, charter.leverage_strength.value),
    ]
    if scale.is_rehearsal:
        pairs.append(SearchAttributePair(TIME_SCALE, scale.describe()))
    return pairs


def _current_values(partnership: Partnership) -> dict[SearchAttributeKey[Any], Any]:
    """Every attribute as it stands now; None means unset."""
    charter = partnership.charter
    last = partnership.reviews[-1] if partnership.reviews else None
    rag = (
        partnership.scorecard.rag
        if partnership.scorecard
        else (partnership.rag_history[-1] if partnership.rag_history else None)
    )
    reviewing = partnership.step is Step.GATE_REVIEW and partnership.review is not None
    return {
        PHASE: partnership.phase.value,
        STEP: partnership.step.value,
        PARTNER: charter.partner.name,
        TIER: int(charter.tier),
        LEVERAGE: charter.leverage_strength.value,
        LAST_GATE_OUTCOME: None
        if last is None or last.decision is None
        else f"{last.gate.value}:{last.decision.outcome.value}",
        REVIEW_DEADLINE: partnership.review.remind_at if reviewing and partnership.review else None,
        RAG_STATUS: None if rag is None else rag.value,
        # Both change only together with the phase or step above, so adding them did not
        # add upserts: recorded histories keep replaying.
        PHASE_STARTED_AT: partnership.phase_started_at,
        NEXT_DEADLINE: next_deadline(partnership),
        TIME_SCALE: partnership.time_scale.describe() or None,
        OVERDUE_TASKS: len(partnership.overdue_tasks) or None,
    }


def next_deadline(partnership: Partnership) -> datetime | None:
    """The date the partnership waits for (the same one `Partnership.awaiting` names)."""
    if partnership.step is Step.UNDERWAY:
        return partnership.phase_ends_at
    due = views.next_deadline(partnership)
    return None if due is None else due[1]


# What a workflow knows it shows: every attribute's value, in `_current_values`' order.
Shown = tuple[Any, ...]
_NOT_KNOWN = object()


def search_attribute_updates(
    partnership: Partnership, shown: Shown | None = None
) -> tuple[list[SearchAttributeUpdate], Shown]:
    """The upsert that makes the Web UI show the partnership as it stands now, and what it then shows.

    Only the attributes whose value differs from `shown` are sent (all of them when nothing is
    known to be shown): an upsert that named every attribute was a quarter of a lifecycle's
    history bytes, written by the server on every change of one of them."""
    current = _current_values(partnership)
    before = shown if shown is not None else (_NOT_KNOWN,) * len(current)
    updates = [
        key.value_unset() if value is None else key.value_set(value)
        for (key, value), was in zip(current.items(), before, strict=True)
        if was is _NOT_KNOWN or value != was
    ]
    return updates, tuple(current.values())


def search_attributes(partnership: Partnership) -> TypedSearchAttributes:
    """The attributes a continued-as-new run starts with (unset ones left out)."""
    return TypedSearchAttributes(
        [SearchAttributePair(key, value) for key, value in _current_values(partnership).items() if value is not None]
    )
