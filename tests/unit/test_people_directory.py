"""A people directory beside the charters: each person written once, named by email in charters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from partnerships.adapters.charter_file import CharterError, load_charter
from tests.helpers import EXAMPLE_CHARTER, KEYRING

DANA_KEY = KEYRING.public_line("dana@ourco.example")
PEOPLE = f"""
people:
  - name: Dana Reyes
    email: dana@ourco.example
    slack_user_id: U0DANA001
    slack_team_id: T0OURCO01
    keys: ["{DANA_KEY}"]
  - {{name: Sam Okafor, email: sam@acme.example, keys: ["{KEYRING.public_line("sam@acme.example")}"]}}
"""


def _charter_naming_people_by_email(folder: Path, people: str = PEOPLE) -> Path:
    data = load_charter(EXAMPLE_CHARTER).model_dump(mode="json")
    data["governance"]["decision_owners"] = {"us": "dana@ourco.example", "partner": "Sam@Acme.example"}
    data["governance"]["reviewers"][0] = "dana@ourco.example"
    (folder / "people.yaml").write_text(people)
    path = folder / "charter.yaml"
    path.write_text(json.dumps(data))
    return path


def test_a_charter_names_people_by_email_and_the_directory_fills_in_who_they_are(tmp_path: Path) -> None:
    charter = load_charter(_charter_naming_people_by_email(tmp_path))
    owners = charter.governance.decision_owners
    assert (owners.us.name, owners.us.slack_user_id, owners.us.keys) == ("Dana Reyes", "U0DANA001", [DANA_KEY])
    assert owners.partner.name == "Sam Okafor" and owners.partner.keys
    assert charter.governance.reviewers[0] == owners.us


def test_what_a_charter_says_itself_wins_over_the_directory(tmp_path: Path) -> None:
    path = _charter_naming_people_by_email(tmp_path)
    data = json.loads(path.read_text())
    data["governance"]["decision_owners"]["us"] = {"email": "dana@ourco.example", "name": "Dana R."}
    path.write_text(json.dumps(data))
    assert load_charter(path).governance.decision_owners.us.name == "Dana R."


def test_a_person_missing_from_the_directory_or_a_bad_entry_is_one_line_each(tmp_path: Path) -> None:
    path = _charter_naming_people_by_email(tmp_path, PEOPLE.replace("sam@acme.example", "sam@other.example"))
    with pytest.raises(CharterError) as missing:
        load_charter(path)
    assert missing.value.problems == ["governance.decision_owners.partner: Sam@Acme.example is not in people.yaml"]
    (tmp_path / "people.yaml").write_text("people:\n  - {name: X, email: not-an-email}\n")
    with pytest.raises(CharterError) as bad:
        load_charter(path)
    assert bad.value.problems == ["people.yaml: people[0].email: must be an email address"]
