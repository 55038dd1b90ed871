"""Keep the read model and the decision record in the engine's store."""

from __future__ import annotations

from temporalio import activity

from partnerships.contracts import ActivityName, PartnershipSnapshot, RecordGateReviewInput, SavePartnershipInput
from partnerships.domain.lifecycle import GateReview
from partnerships.store import GateReviewRow, PartnershipRow, Store, dumps


class RecordKeeping:
    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn(name=ActivityName.SAVE_PARTNERSHIP)
    def save_partnership(self, request: SavePartnershipInput) -> None:
        self._store.upsert(partnership_row(request.snapshot))

    @activity.defn(name=ActivityName.RECORD_GATE_REVIEW)
    def record_gate_review(self, request: RecordGateReviewInput) -> None:
        self._store.upsert(gate_review_row(request.partnership_id, request.review))


def partnership_row(snapshot: PartnershipSnapshot) -> PartnershipRow:
    return PartnershipRow(**snapshot.model_dump())


def gate_review_row(partnership_id: str, review: GateReview) -> GateReviewRow:
    decision = review.decision
    return GateReviewRow(
        id=review.id,
        partnership_id=partnership_id,
        gate=review.gate.value,
        label=review.label,
        opened_at=review.opened_at,
        evidence_json=dumps(review.evidence),
        evaluation_json=review.evaluation.model_dump_json(),
        recommendation=review.evaluation.recommendation.value,
        outcome=decision.outcome.value if decision else None,
        decided_by=decision.decided_by if decision else None,
        decided_by_name=decision.decided_by_name if decision else None,
        reason=decision.reason if decision else None,
        decided_at=decision.decided_at if decision else None,
        by_policy=decision.by_policy if decision else False,
        overrides_failing_gate=decision.overrides_failing_gate if decision else False,
    )
