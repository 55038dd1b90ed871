"""`what-if`: the store's decided gate reviews judged again under other rules (`domain.what_if`).

Reads the store only: nothing running changes, nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlmodel import col, select

from partnerships.adapters.store import GateReviewRow, PartnershipRow, Store
from partnerships.domain.lifecycle import GateReview
from partnerships.domain.portfolio import PartnershipFacts
from partnerships.domain.what_if import RuleSet, WhatIf, what_if
from partnerships.service.report import partnership_facts, review_facts, task_facts


@dataclass(frozen=True)
class WhatIfReport:
    result: WhatIf
    partnerships: dict[str, PartnershipFacts]
    since: date | None
    # Decided reviews in scope an older release wrote: no full review on record, not judged.
    without_record: int

    @property
    def skipped(self) -> int:
        return self.without_record + self.result.skipped

    def slug(self, partnership_id: str) -> str:
        facts = self.partnerships.get(partnership_id)
        return facts.slug if facts else partnership_id


def start_of(day: date) -> datetime:
    """Midnight UTC: `--since` counts reviews decided on or after it."""
    return datetime.combine(day, time(), tzinfo=UTC)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; the engine writes UTC.
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def judge_store(store: Store, rule_set: RuleSet, since: date | None = None) -> WhatIfReport:
    """Every decided review in the store (on or after `since`, UTC) judged under `rule_set`."""
    with store.session() as session:
        partnership_rows = list(session.exec(select(PartnershipRow).order_by(col(PartnershipRow.slug))))
        review_rows = list(session.exec(select(GateReviewRow).order_by(col(GateReviewRow.opened_at))))
    tasks = [task_facts(row) for row in store.tasks(None, status=None)]
    partnerships = [partnership_facts(row) for row in partnership_rows]
    from_ = None if since is None else start_of(since)

    decided: list[tuple[str, GateReview]] = []
    without_record = 0
    for row in review_rows:
        decided_at = _aware(row.decided_at)
        if row.outcome is None or decided_at is None or (from_ is not None and decided_at < from_):
            continue
        if row.review_json is None:
            without_record += 1
            continue
        decided.append((row.partnership_id, GateReview.model_validate_json(row.review_json)))

    result = what_if(
        decided,
        rule_set,
        partnerships=partnerships,
        reviews=[review_facts(row) for row in review_rows],
        tasks=tasks,
    )
    return WhatIfReport(
        result=result,
        partnerships={p.id: p for p in partnerships},
        since=since,
        without_record=without_record,
    )
