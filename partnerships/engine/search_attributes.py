"""The search attributes partnerships are filtered and sorted by, in the Web UI and `partnerships list`.

Only the keys and their registration: no domain model, so the portfolio query loads quickly.
What each one holds, and when the workflow upserts it, is in `visibility.py`.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

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
# Set only on rehearsals (compressed time), e.g. "rehearsal: 1 week = 0.5 s": never mistaken for the real thing.
TIME_SCALE = SearchAttributeKey.for_keyword("PartnershipTimeScale")
# Open tasks past their due date (unset when none): `partnerships list --overdue` finds them.
OVERDUE_TASKS = SearchAttributeKey.for_int("OverdueTasks")

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
    TIME_SCALE,
    OVERDUE_TASKS,
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
