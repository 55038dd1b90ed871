"""The charter explained from its model: the JSON Schema editors use, the template a new charter
starts from and the README's field reference — none of them may drift from the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from partnerships.adapters.charter_file import PEOPLE_FILE, CharterError, load_charter, parse_charter
from partnerships.adapters.charter_reference import (
    MODELINE,
    README_FILE,
    REGENERATE,
    SCHEMA_FILE,
    charter_template,
    file_schema,
    schema_text,
    with_reference,
)
from partnerships.domain.charter import Charter, charter_warnings
from tests.helpers import EXAMPLE_CHARTER, filled_in

EXAMPLES = [EXAMPLE_CHARTER, EXAMPLE_CHARTER.parent / "globex-reseller.yaml"]
EDITOR = Draft202012Validator(file_schema())


def _editor_problems(data: Any) -> list[str]:
    """What an editor with the committed schema flags, one `path: message` each."""
    found = sorted((error.json_path, error.message) for error in EDITOR.iter_errors(data))
    return [f"{path}: {message}" for path, message in found]


# ------------------------------------------------------------------ drift


def test_the_committed_schema_is_the_models() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        f"{SCHEMA_FILE.name} differs from partnerships/domain/charter.py: run `{REGENERATE}`"
    )


def test_the_readmes_charter_reference_is_the_models() -> None:
    readme = README_FILE.read_text(encoding="utf-8")
    assert readme == with_reference(readme), (
        f"README.md's charter reference differs from partnerships/domain/charter.py: run `{REGENERATE}`"
    )


def test_every_field_of_the_charter_says_what_it_is_for() -> None:
    schema = Charter.model_json_schema()
    models = {"Charter": schema, **{name: d for name, d in schema["$defs"].items() if "properties" in d}}
    undescribed = [
        f"{model}.{field}"
        for model, definition in models.items()
        for field, prop in definition["properties"].items()
        if not prop.get("description")
    ]
    assert undescribed == []
    assert [model for model, definition in models.items() if not definition.get("description")] == []


# ------------------------------------------------------------------ the editor's schema


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_charter_names_the_schema_on_its_first_line_and_satisfies_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE
    assert (path.parent / "charter.schema.json").is_file()
    assert _editor_problems(yaml.safe_load(text)) == []


def test_the_editors_schema_accepts_people_named_from_the_people_directory_as_the_loader_does(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load(EXAMPLE_CHARTER.read_text(encoding="utf-8"))
    governance = data["governance"]
    governance["decision_owners"] = {"us": "dana@ourco.example", "partner": {"email": "sam@acme.example"}}
    governance["reviewers"] = ["dana@ourco.example", {"email": "lee@ourco.example", "slack_user_id": "U0LEEP009"}]
    (tmp_path / PEOPLE_FILE).write_text(
        "people:\n"
        "  - {name: Dana Reyes, email: dana@ourco.example}\n"
        "  - {name: Sam Okafor, email: sam@acme.example}\n"
        "  - {name: Lee Park, email: lee@ourco.example, slack_user_id: U0LEEP002, slack_team_id: T0OURCO01}\n"
    )
    (tmp_path / "charter.yaml").write_text(json.dumps(data))

    charter = load_charter(tmp_path / "charter.yaml")

    assert charter.governance.reviewers[1].slack_user_id == "U0LEEP009"
    assert _editor_problems(data) == []


def test_the_editors_schema_flags_what_the_loader_refuses() -> None:
    data = yaml.safe_load(EXAMPLE_CHARTER.read_text(encoding="utf-8"))
    data["slug"] = "Acme Analytics"
    data["timline"] = {}
    data["partner"]["kind"] = "reseller"
    data["leverage"] = ["economic", "economic"]
    data["timeline"]["crawl"]["weeks"] = 9
    data["measurement"]["review_cadence"] = "daily"
    data["governance"]["escalation_path"] = [{"name": "Morgan Chief"}]

    flagged = _editor_problems(data)

    assert [line.split(":")[0] for line in flagged] == [
        "$",  # timline: not a charter field
        "$.governance.escalation_path[0]",
        "$.leverage",
        "$.measurement.review_cadence",
        "$.partner.kind",
        "$.slug",
        "$.timeline.crawl.weeks",
    ]
    with pytest.raises(CharterError) as refused:
        parse_charter(yaml.safe_dump(data))
    assert len(refused.value.problems) == len(flagged)


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("timeline.crawl.weeks", range(2, 11)),
        ("timeline.crawl.pilot_customers", range(0, 4)),
        ("timeline.walk.weeks", range(6, 15)),
        ("timeline.walk.invited_customers", range(3, 13)),
        ("timeline.run.months", range(4, 15)),
    ],
)
def test_the_editors_schema_holds_the_framework_spans_the_model_checks(field: str, values: range) -> None:
    data = yaml.safe_load(EXAMPLE_CHARTER.read_text(encoding="utf-8"))
    *parents, name = field.split(".")
    target = data
    for part in parents:
        target = target[part]
    for value in values:
        target[name] = value
        try:
            parse_charter(yaml.safe_dump(data))
            loader_accepts = True
        except CharterError:
            loader_accepts = False
        assert (_editor_problems(data) == []) == loader_accepts, f"{field}: {value}"


# ------------------------------------------------------------------ the template


@pytest.mark.parametrize("tier", [None, 1, 2, 3])
def test_a_template_filled_in_with_its_examples_is_a_valid_charter_without_warnings(
    tier: int | None, tmp_path: Path
) -> None:
    text = filled_in(charter_template(tier))
    (tmp_path / "new.yaml").write_text(text, encoding="utf-8")

    charter = load_charter(tmp_path / "new.yaml")

    assert int(charter.tier) == (tier or 2)
    assert charter_warnings(charter) == []
    assert _editor_problems(yaml.safe_load(text)) == []
    assert text.splitlines()[0] == MODELINE


def test_an_unfilled_template_is_refused_once_per_placeholder_and_for_nothing_else(tmp_path: Path) -> None:
    text = charter_template(tier=2)
    (tmp_path / "new.yaml").write_text(text, encoding="utf-8")

    with pytest.raises(CharterError) as refused:
        load_charter(tmp_path / "new.yaml")

    problems = refused.value.problems
    values = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert len(problems) == sum(line.count('"<FILL IN, e.g. ') for line in values)
    assert all(p.endswith(": still the template's placeholder; write your own value") for p in problems)
    assert "timeline.crawl.weeks: still the template's placeholder; write your own value" in problems
    assert "governance.reviewers[0].email: still the template's placeholder; write your own value" in problems


def test_a_half_filled_template_names_its_placeholders_and_its_mistakes() -> None:
    text = filled_in(charter_template(tier=2)).replace("weeks: 10", "weeks: 20")
    text = text.replace("slug: ", 'slug: "<FILL IN, e.g. acme-analytics>"  # ', 1)

    with pytest.raises(CharterError) as refused:
        parse_charter(text)

    assert refused.value.problems == [
        "slug: still the template's placeholder; write your own value",
        "timeline.walk.weeks: must be between 8 and 12",
    ]


def test_the_template_explains_each_field_and_the_values_it_allows() -> None:
    text = charter_template()
    for allowed in ("technology, channel, co-selling, strategic", "higher-is-better, lower-is-better"):
        assert f"Allowed: {allowed}." in " ".join(line.lstrip("# ") for line in text.splitlines())
    assert "# slack_channel: " in text and "# slack_user_id: " in text
    written = yaml.safe_load(filled_in(text))
    assert set(written) == set(Charter.model_json_schema()["properties"])
    assert set(written["timeline"]["crawl"]) == {"weeks", "pilot_customers", "deliverables"}
    assert set(written["measurement"]) == {"metric", "tracked_by", "review_cadence"}
    assert set(written["governance"]) == {
        "decision_owners",
        "reviewers",
        "escalation_path",
        "review_window_days",
        "quorum",
    }
