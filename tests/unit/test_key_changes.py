"""Keys change over years: who may add or revoke a person's key (the domain's rule)."""

from __future__ import annotations

from datetime import UTC, datetime

from partnerships.adapters.keys import SigningKey
from partnerships.domain.lifecycle import KeyChangeRequest, Partnership, TimeScale
from tests.helpers import KEYRING, OUTSIDER, PARTNER, REVIEWER, US, example_charter

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def partnership() -> Partnership:
    return Partnership.begin(example_charter(), TimeScale(), NOW)


def test_a_person_adds_their_own_key_and_every_entry_of_theirs_holds_it() -> None:
    p, new = partnership(), SigningKey.generate().public_line
    request = KeyChangeRequest(by=US, person=US, add=new)
    assert p.problems_changing_keys(request) == []
    p.apply_key_change(request, NOW)
    # Dana is our decision owner and a reviewer: both entries carry the new key.
    assert all(new in person.keys for person in p.charter.people() if person.email == US)
    assert p.key_changes[0].by_name == "Dana Reyes"


def test_our_decision_owner_may_change_anyones_keys_nobody_else_may_change_others() -> None:
    p = partnership()
    sams = KEYRING.public_line(PARTNER)
    assert p.problems_changing_keys(KeyChangeRequest(by=US, person=PARTNER, revoke=sams)) == []
    assert p.problems_changing_keys(KeyChangeRequest(by=REVIEWER, person=PARTNER, revoke=sams)) == [
        "by: only Sam Okafor or our decision owner may change Sam Okafor's keys"
    ]
    assert p.problems_changing_keys(KeyChangeRequest(by=OUTSIDER, person=PARTNER, revoke=sams)) == [
        f"by: {OUTSIDER} is not named in the charter's governance"
    ]


def test_a_change_is_one_key_added_or_one_revoked_that_makes_sense() -> None:
    p = partnership()
    dana = KEYRING.public_line(US)
    new = SigningKey.generate().public_line
    assert p.problems_changing_keys(KeyChangeRequest(by=US, person=US, add=new, revoke=dana)) == [
        "add/revoke: give one key to add or one key to revoke"
    ]
    assert p.problems_changing_keys(KeyChangeRequest(by=US, person=US)) == [
        "add/revoke: give one key to add or one key to revoke"
    ]
    assert p.problems_changing_keys(KeyChangeRequest(by=US, person=US, add=dana + " same key, other comment")) == [
        "add: Dana Reyes already has this key"
    ]
    assert p.problems_changing_keys(KeyChangeRequest(by=US, person=US, revoke=new)) == [
        "revoke: Dana Reyes has no such key"
    ]
    for _ in range(4):
        p.apply_key_change(KeyChangeRequest(by=US, person=US, add=SigningKey.generate().public_line), NOW)
    assert p.problems_changing_keys(KeyChangeRequest(by=US, person=US, add=new)) == [
        "add: Dana Reyes has 5 keys already; revoke one first"
    ]
