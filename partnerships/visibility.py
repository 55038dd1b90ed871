"""Search attributes: what the Temporal Web UI can filter and sort partnerships by.

Registered on the dev server at start (see `devserver.py`) and in docker-compose;
upserted by the workflow on every change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from partnerships.domain.charter import Charter
from partnerships.domain.lifecycle import Partnership, Phase, Step

PHASE = SearchAttributeKey.for_keyword("PartnershipPhase")
STEP = SearchAttributeKey.for_keyword("PartnershipStep")
PARTNER = SearchAttributeKey.for_keyword("Partner")
TIER = SearchAttributeKey.for_int("PartnershipTier")
LEVERAGE = SearchAttributeKey.for_keyword("PartnershipLeverage")
LAST_GATE_OUTCOME = SearchAttributeKey.for_keyword("LastGateOutcome")
REVIEW_DEADLINE = SearchAttributeKey.for_datetime("ReviewDeadline")
RAG_STATUS = SearchAttributeKey.for_keyword("RagStatus")
# When the current phase (in Run: the current quarter) began: "time in phase" in `partnerships list`.
PHASE_STARTED_AT = SearchAttributeKey.for_datetime("PhaseStartedAt")
# The next date something is due: signatures, the gate review opening, or the gate decision.
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")

ALL_KEYS = (
    PHASE,
    STEP,
    PARTNER,
    TIER,
    LEVERAGE,
    LAST_GATE_OUTCOME,
    REVIEW_DEADLINE,
    RAG_STATUS,
    PHASE_STARTED_AT,
    NEXT_DEADLINE,
)


def initial_search_attributes(charter: Charter) -> list[SearchAttributePair]:
    """Set when the workflow starts, so a new partnership is filterable at once."""
    return [
        SearchAttributePair(PHASE, Phase.CHARTER.value),
        SearchAttributePair(STEP, Step.SIGNING.value),
        SearchAttributePair(PARTNER, charter.partner.name),
        SearchAttributePair(TIER, int(charter.tier)),
        SearchAttributePair(LEVERAGE, charter.leverage_strength.value),
    ]


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
    }


def next_deadline(partnership: Partnership) -> datetime | None:
    """The date the partnership waits for (the same one `Partnership.awaiting` names)."""
    if partnership.step in (Step.SIGNING, Step.RECOMMITMENT):
        return partnership.signing_deadlines()[2]
    if partnership.step is Step.GATE_REVIEW and partnership.review is not None:
        return partnership.review.remind_at
    if partnership.step is Step.UNDERWAY:
        return partnership.phase_ends_at
    return None


def search_attribute_updates(partnership: Partnership) -> list[SearchAttributeUpdate]:
    """The upsert that makes the Web UI show the partnership as it stands now."""
    return [
        key.value_unset() if value is None else key.value_set(value)
        for key, value in _current_values(partnership).items()
    ]


def search_attributes(partnership: Partnership) -> TypedSearchAttributes:
    """The attributes a continued-as-new run starts with (unset ones left out)."""
    return TypedSearchAttributes(
        [SearchAttributePair(key, value) for key, value in _current_values(partnership).items() if value is not None]
    )


async def register_missing(client: Client, namespace: str) -> list[str]:
    """Add any of our search attributes the namespace lacks (an older server database).

    Returns the names added. Needs operator rights: on a managed namespace register them
    once by hand instead (see README).
    """
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = {key.name: key for key in ALL_KEYS if key.name not in listed.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    name: IndexedValueType.ValueType(key.indexed_value_type.value) for name, key in missing.items()
                },
            )
        )
    return sorted(missing)
