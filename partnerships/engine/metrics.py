"""The engine's own metrics: each name and meaning defined once, for workflows, activities and the worker.

Every metric goes through the Temporal runtime's meter, so one Prometheus scrape of a
worker shows the SDK's metrics and these together. Counters are exported with `_total`
appended (the worker's `PrometheusConfig` asks for the OpenMetrics names). Labels stay few
and bounded (a gate, an outcome, an Update's name): never a partnership's id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    unit: str | None = None


# Counted by the workflow, through its replay-safe meter: a replayed history counts nothing again.
REVIEWS_OPENED = Metric("partnerships_gate_reviews_opened", "Gate reviews opened (label gate: crawl, walk, qbr)")
REVIEWS_DECIDED = Metric(
    "partnerships_gate_reviews_decided",
    "Gate reviews decided (labels gate, outcome, and by: reviewer or policy)",
)
REVIEWS_DECIDED_BY_POLICY = Metric(
    "partnerships_gate_reviews_decided_by_policy",
    "Gate reviews nobody decided within the review window: decided by the gate's recommendation",
)
REVIEWS_OVERDUE = Metric(
    "partnerships_gate_reviews_overdue",
    "Gate reviews still undecided at their reminder: the reviewers were reminded",
)
REVIEWS_ESCALATED = Metric(
    "partnerships_gate_reviews_escalated",
    "Gate reviews still undecided at their escalation: the escalation path was told",
)
OVERRIDES = Metric("partnerships_gate_overrides", "Go decisions against a failing gate (a named reviewer's reason)")
REQUESTS_REFUSED = Metric(
    "partnerships_requests_refused",
    "Updates the workflow's validators refused (labels update, and cause: proof or rules); nothing was recorded",
)

# Counted by the activities.
NOTIFICATIONS_DELIVERED = Metric("partnerships_notifications_delivered", "Outbox messages delivered (label notifier)")
NOTIFICATION_FAILURES = Metric(
    "partnerships_notification_failures",
    "Outbox deliveries that failed (labels notifier, and error: unavailable, misconfigured or other); retried",
)

# Gauges the worker process reads from the store every few seconds (not workflow code).
OUTBOX_PENDING = Metric("partnerships_outbox_pending", "Messages in the outbox not delivered yet")
OUTBOX_OLDEST_AGE = Metric(
    "partnerships_outbox_oldest_age_seconds", "Age of the oldest message in the outbox not delivered yet (0 if none)"
)
REVIEWS_OPEN = Metric("partnerships_gate_reviews_open", "Gate reviews opened and not decided yet, in the store")

# Cause labels of REQUESTS_REFUSED.
REFUSED_PROOF = "proof"
REFUSED_RULES = "rules"
