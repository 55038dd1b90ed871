"""The framework's words: phases, steps, tiers, gates, outcomes, RAG, and how a partnership is named.

Plain enums and one naming rule, with no pydantic models, so the quick paths (the
portfolio query behind `partnerships list`) can use them without loading the rest.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

WORKFLOW_ID_PREFIX = "partnership-"
# The workflow type's name in Temporal: visibility queries filter on it.
WORKFLOW_TYPE = "PartnershipWorkflow"


def workflow_id_for(slug: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{slug}"


class Phase(StrEnum):
    CHARTER = "charter"
    CRAWL = "crawl"
    WALK = "walk"
    RUN = "run"
    EXITED = "exited"
    COMPLETED = "completed"


class Step(StrEnum):
    """Where a partnership is inside its phase."""

    SIGNING = "signing"
    UNDERWAY = "underway"
    GATE_REVIEW = "gate-review"
    RECOMMITMENT = "recommitment"
    ON_HOLD = "on-hold"
    WINDING_DOWN = "winding-down"
    CLOSED = "closed"


class Tier(IntEnum):
    INTEGRATION = 1
    PARTNERSHIP = 2
    STRATEGIC = 3

    @property
    def label(self) -> str:
        return {
            1: "integration (self-serve)",
            2: "partnership (joint development)",
            3: "strategic (co-development)",
        }[self.value]


class Side(StrEnum):
    """The two companies in a partnership."""

    US = "us"
    PARTNER = "partner"


class Gate(StrEnum):
    CRAWL = "crawl"
    WALK = "walk"
    QBR = "qbr"


class Outcome(StrEnum):
    GO = "go"
    NO_GO = "no-go"
    RESTART_CRAWL = "restart-crawl"
    EXTEND = "extend"
    # Nothing advances until a re-check date, when the review reopens.
    HOLD = "hold"
    # A QBR sends the partnership through a Walk-style gate again before it may exit.
    REVALIDATE = "revalidate"


class Rag(StrEnum):
    RED = "red"
    AMBER = "amber"
    GREEN = "green"
