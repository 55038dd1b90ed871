"""The charter model: what a valid charter holds, and the framework's warnings about it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from partnerships.adapters.charter_file import CharterError, load_charter, parse_charter
from partnerships.adapters.keys import SigningKey
from partnerships.domain.charter import Charter, Leverage, LeverageStrength, charter_warnings
from tests.helpers import EXAMPLE_CHARTER, US, example_charter

CHARTERS = sorted(Path(EXAMPLE_CHARTER).parent.glob("*.yaml"))


def _example(**changes: object) -> dict:
    data = yaml.safe_load(EXAMPLE_CHARTER.read_text())
    for dotted, value in changes.items():
        target = data
        *path, last = dotted.split(".")
        for part in path:
            target = target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return data


_DELETE = object()


def _problems(data: object) -> list[str]:
    with pytest.raises(CharterError) as refused:
        parse_charter(yaml.safe_dump(data))
    return refused.value.problems


@pytest.mark.parametrize("path", [p for p in CHARTERS if p.name != "tasks.yaml"], ids=lambda p: p.name)
def test_every_example_charter_is_valid(path: Path) -> None:
    assert load_charter(path).slug == path.stem


def test_every_problem_is_reported_at_once_one_line_per_field() -> None:
    data = _example(
        **{
            "timeline.crawl.weeks": 9,
            "timeline.walk.invited_customers": 3,
            "tier": 4,
            "governance.reviewers": [],
            "measurement.metric.direction": "sideways",
            "partner.name": _DELETE,
            "timline": {},
        }
    )
    problems = _problems(data)
    assert "timeline.crawl.weeks: must be between 4 and 8" in problems
    assert "timeline.walk.invited_customers: must be between 5 and 10" in problems
    assert any(p.startswith("tier: ") for p in problems)
    assert any(p.startswith("governance.reviewers: ") for p in problems)
    assert any(p.startswith("measurement.metric.direction: ") for p in problems)
    assert "partner.name: is required" in problems
    assert "timline: is not a charter field (typo?)" in problems
    assert len(problems) == 7


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("timeline.walk.weeks", 13, "timeline.walk.weeks: must be between 8 and 12"),
        ("timeline.run.months", 5, "timeline.run.months: must be between 6 and 12"),
        (
            "timeline.crawl.pilot_customers",
            3,
            "timeline.crawl.pilot_customers: must be between 1 and 2",
        ),
        ("slug", "Acme Analytics!", "slug: "),
        ("leverage", ["economic", "economic"], "leverage: lists the same leverage twice"),
        ("measurement.metric.baseline", 0, "measurement.metric.baseline: "),
        (
            "governance.decision_owners.us.email",
            "dana",
            "governance.decision_owners.us.email: must be an email",
        ),
        (
            "signing.escalate_after_days",
            30,
            "signing: escalate_after_days must be less than expire_after_days",
        ),
    ],
)
def test_out_of_bounds_fields_are_named_in_the_error(field: str, value: object, expected: str) -> None:
    assert any(p.startswith(expected) for p in _problems(_example(**{field: value})))


def test_yaml_aliases_are_refused_so_a_billion_laughs_cannot_expand() -> None:
    bomb = "a: &a ['lol','lol']\nb: &b [*a,*a]\nc: [*b,*b]\n"
    with pytest.raises(CharterError, match="aliases"):
        parse_charter(bomb)


def test_yaml_that_is_not_a_mapping_gets_one_clear_line() -> None:
    with pytest.raises(CharterError) as refused:
        parse_charter("- just\n- a list\n")
    assert refused.value.problems == ["(charter): must be a mapping of charter fields, like the examples in charters/"]


def test_leverage_is_ordered_strongest_first_and_the_strongest_sets_the_strength() -> None:
    charter = parse_charter(yaml.safe_dump(_example(leverage=["co-marketing", "competitive"])))
    assert charter.leverage == [Leverage.COMPETITIVE, Leverage.CO_MARKETING]
    assert charter.leverage_strength is LeverageStrength.MODERATE


def test_co_marketing_only_leverage_gets_a_loud_warning() -> None:
    charter = parse_charter(yaml.safe_dump(_example(leverage=["co-marketing"])))
    warnings = charter_warnings(charter)
    assert [(w.field, w.loud) for w in warnings] == [("leverage", True)]


def test_a_charter_where_nobody_loses_anything_is_called_a_handshake() -> None:
    data = _example(
        **{
            "value_exchange.we_lose_if_it_fails": "nothing",
            "value_exchange.partner_loses_if_it_fails": "",
        }
    )
    warnings = charter_warnings(parse_charter(yaml.safe_dump(data)))
    assert any(w.field == "value_exchange" and "handshake" in w.message and w.loud for w in warnings)


def test_gate_thresholds_below_the_framework_are_warned_about() -> None:
    data = _example(gates={"crawl_min_improvement_pct": 10, "walk_min_adoption_pct": 50})
    fields = {w.field for w in charter_warnings(parse_charter(yaml.safe_dump(data)))}
    assert {"gates.crawl_min_improvement_pct", "gates.walk_min_adoption_pct"} <= fields


def test_a_well_formed_high_leverage_charter_has_no_warnings() -> None:
    assert charter_warnings(load_charter(EXAMPLE_CHARTER)) == []


def test_the_content_hash_changes_with_the_terms_and_not_with_peoples_keys() -> None:
    charter = example_charter()
    same = charter.with_keys_changed(US, add=SigningKey.generate().public_line)
    other = Charter.model_validate({**charter.model_dump(mode="json"), "slug": charter.slug + "-b"})
    assert charter.content_hash() == same.content_hash()
    assert charter.content_hash() != other.content_hash()
    assert charter.content_hash().startswith("sha256:") and len(charter.content_hash()) == 71


def test_a_charter_works_its_hash_out_once_and_a_changed_copy_works_out_its_own() -> None:
    charter = example_charter()
    read_again = Charter.model_validate(charter.model_dump())
    first = charter.content_hash()

    assert charter.content_hash() is first  # kept, not worked out again
    assert charter == read_again and charter.model_dump() == read_again.model_dump()  # not a field
    changed = charter.model_copy(update={"slug": "another-partnership"})
    assert changed.content_hash() == Charter.model_validate(changed.model_dump()).content_hash() != first
