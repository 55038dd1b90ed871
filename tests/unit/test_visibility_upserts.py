"""What the workflow sends to make a partnership visible: only the search attributes that changed."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.common import SearchAttributeUpdate

from partnerships.domain.lifecycle import Partnership, SignRequest, TimeScale
from partnerships.engine import visibility
from tests.helpers import PARTNER, US, example_charter

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _names(updates: list[SearchAttributeUpdate]) -> set[str]:
    return {update.key.name for update in updates}


def test_the_first_upsert_names_every_attribute_set_or_unset() -> None:
    p = Partnership.begin(example_charter(), TimeScale(), NOW)
    updates, shown = visibility.search_attribute_updates(p)
    assert _names(updates) == {key.name for key in visibility.ALL_KEYS}
    assert len(shown) == len(updates)


def test_nothing_is_sent_again_while_nothing_changed() -> None:
    p = Partnership.begin(example_charter(), TimeScale(), NOW)
    _, shown = visibility.search_attribute_updates(p)
    updates, shown_after = visibility.search_attribute_updates(p, shown)
    assert updates == [] and shown_after == shown


def test_a_signature_that_starts_crawl_sends_only_what_it_changed() -> None:
    p = Partnership.begin(example_charter(), TimeScale(), NOW)
    _, shown = visibility.search_attribute_updates(p)
    p.apply_signature(SignRequest(signer=US), NOW)
    p.apply_signature(SignRequest(signer=PARTNER), NOW)
    updates, _ = visibility.search_attribute_updates(p, shown)
    names = _names(updates)
    assert {visibility.PHASE.name, visibility.STEP.name} <= names
    # The charter's attributes did not change: they stay as the first upsert left them.
    assert not names & {visibility.PARTNER.name, visibility.TIER.name, visibility.LEVERAGE.name}
    phase = next(u for u in updates if u.key.name == visibility.PHASE.name)
    assert phase.value == "crawl"
