"""What a partnership's workflow counts: reviews opened, decided, overdue; overrides; refused requests.

Workflow code: counted through `workflow.metric_meter()`, which counts nothing while a
history is replayed (a worker picking a partnership up again counts none of its past) and
adds no command to the history. A validator's refusal is counted where it happens: a
validator runs once, on the worker that received the Update, and never on replay.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from partnerships.domain.lifecycle import GateReview
    from partnerships.engine import metrics
    from partnerships.engine.metrics import Metric


def _count(metric: Metric, **labels: str) -> None:
    # Counters are made at the moment they count: thousands of idle partnerships hold none.
    workflow.metric_meter().create_counter(metric.name, metric.description).add(1, labels)


def review_opened(review: GateReview) -> None:
    _count(metrics.REVIEWS_OPENED, gate=review.gate.value)


def review_overdue(review: GateReview) -> None:
    _count(metrics.REVIEWS_OVERDUE, gate=review.gate.value)


def review_escalated(review: GateReview) -> None:
    _count(metrics.REVIEWS_ESCALATED, gate=review.gate.value)


def review_decided(review: GateReview) -> None:
    decision = review.decision
    assert decision is not None
    gate, outcome = review.gate.value, decision.outcome.value
    _count(metrics.REVIEWS_DECIDED, gate=gate, outcome=outcome, by="policy" if decision.by_policy else "reviewer")
    if decision.by_policy:
        _count(metrics.REVIEWS_DECIDED_BY_POLICY, gate=gate, outcome=outcome)
    if decision.overrides_failing_gate:
        _count(metrics.OVERRIDES, gate=gate)


def request_refused(cause: str) -> None:
    update = workflow.current_update_info()
    _count(metrics.REQUESTS_REFUSED, update=update.name if update else "", cause=cause)
