"""Models a worker holds per cached partnership share their set of given field names, unobservably."""

from __future__ import annotations

from datetime import UTC, datetime

from partnerships.domain.charter import Charter
from partnerships.domain.lifecycle import Partnership, TimeScale
from tests.helpers import example_charter

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_charters_read_in_full_share_one_set_of_field_names_per_class() -> None:
    json = example_charter().model_dump_json()
    first, second = Charter.model_validate_json(json), Charter.model_validate_json(json)
    assert first.model_fields_set is second.model_fields_set
    assert first.timeline.crawl.model_fields_set is second.timeline.crawl.model_fields_set
    assert first.governance.decision_owners.us.model_fields_set is second.governance.decision_owners.us.model_fields_set
    assert first == second


def test_a_charter_given_in_part_keeps_what_it_was_given() -> None:
    full = example_charter().model_dump(mode="json")
    given = {name: value for name, value in full.items() if name != "signing"}
    charter = Charter.model_validate(given)
    assert "signing" not in charter.model_fields_set
    assert "signing" not in charter.model_dump(exclude_unset=True)
    assert Charter.model_validate_json(example_charter().model_dump_json()).model_fields_set >= {"signing"}


def test_changing_one_partnership_read_in_full_leaves_the_others_as_they_were() -> None:
    json = Partnership.begin(example_charter(), TimeScale(), NOW).model_dump_json()
    changed, untouched = Partnership.model_validate_json(json), Partnership.model_validate_json(json)
    assert changed.model_fields_set is untouched.model_fields_set
    every_field = set(Partnership.model_fields)

    changed.quarter = 3
    changed.crawl.integration_can_scale = True

    assert untouched.quarter == 0 and changed.quarter == 3
    assert untouched.model_fields_set == every_field == changed.model_fields_set
    assert untouched.model_dump_json() == json


def test_a_copy_with_changes_leaves_the_original_as_it_was() -> None:
    original = Charter.model_validate_json(example_charter().model_dump_json())
    copy = original.model_copy(update={"slug": "acme-renamed"})
    assert (original.slug, copy.slug) != (copy.slug, copy.slug)
    assert original.model_fields_set == set(Charter.model_fields)
