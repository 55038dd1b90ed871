"""Quorum: no sequence of votes decides a gate without the agreement its charter asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from partnerships.domain.charter import Charter
from partnerships.domain.gates import Outcome, PilotResult
from partnerships.domain.lifecycle import DecisionRequest, Partnership, Phase, Step, TimeScale
from partnerships.domain.quorum import Quorum, QuorumRule
from partnerships.domain.vocabulary import Side
from tests.helpers import CAROL, LONG_REASON, OUTSIDER, PARTNER, REVIEWER, REVIEWERS_TWO_A_SIDE, US, example_charter

NOW = datetime(2026, 12, 1, tzinfo=UTC)
REVIEWERS = REVIEWERS_TWO_A_SIDE
SIDE_OF = {r["email"]: Side(r["side"]) for r in REVIEWERS}
RULES = ["any", "majority", "all", "one-per-side", "1 of 4", "2 of 4", "3 of 4", "4 of 4"]


def at_crawl_review(quorum: str, *, passing: bool) -> Partnership:
    charter = example_charter(governance__reviewers=REVIEWERS, governance__quorum=quorum)
    p = Partnership.begin(charter, TimeScale(), NOW)
    p.phase, p.step = Phase.CRAWL, Step.UNDERWAY
    after = 10.0 if passing else 19.0  # from 20 hours: -50 % passes, -5 % fails
    p.crawl.pilots = [PilotResult(customer="Pilot 1", metric_before=20, metric_after=after, would_recommend=True)]
    p.crawl.integration_can_scale = True
    p.open_review(NOW)
    return p


def has_quorum(rule: str, agreeing: list[str]) -> bool:
    """The charter's words, counted by hand: who must agree for an outcome to be decided."""
    total = len(REVIEWERS)
    if rule == "any":
        return len(agreeing) >= 1
    if rule == "majority":
        return len(agreeing) > total / 2
    if rule == "all":
        return len(agreeing) == total
    if rule == "one-per-side":
        return {SIDE_OF[e] for e in agreeing} == {Side.US, Side.PARTNER}
    needed = int(rule.split(" of ")[0])
    return len(agreeing) >= needed


VOTES = st.lists(
    st.tuples(
        st.sampled_from([US, REVIEWER, PARTNER, CAROL, OUTSIDER]),
        st.sampled_from([Outcome.GO, Outcome.NO_GO, Outcome.EXTEND]),
        st.sampled_from(["", LONG_REASON]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(rule=st.sampled_from(RULES), passing=st.booleans(), votes=VOTES)
def test_no_sequence_of_votes_decides_a_gate_without_its_quorum(
    rule: str, passing: bool, votes: list[tuple[str, Outcome, str]]
) -> None:
    p = at_crawl_review(rule, passing=passing)
    current: dict[str, tuple[Outcome, str]] = {}
    for number, (who, outcome, reason) in enumerate(votes):
        request = DecisionRequest(reviewer=who, outcome=outcome, reason=reason)
        if p.problems_deciding(request):
            assert (
                who == OUTSIDER
                or current.get(who) == (outcome, reason)
                or (outcome is Outcome.GO and not passing and not reason)
            )
            continue
        assert who != OUTSIDER
        current[who] = (outcome, reason)
        transition = p.apply_decision(request, NOW + timedelta(seconds=number))
        # Only go votes with a written reason count for a go over a failing gate.
        counted = {
            o: [e for e, (v, r) in current.items() if v is o and (passing or o is not Outcome.GO or r)]
            for o in (Outcome.GO, Outcome.NO_GO, Outcome.EXTEND)
        }
        agreed = [o for o, voters in counted.items() if has_quorum(rule, voters)]
        if transition.vote is not None:
            assert agreed == [], f"{rule}: {counted} has a quorum, yet the review stays open"
            continue
        decision = transition.decided_review.decision if transition.decided_review else None
        assert decision is not None and decision.outcome in agreed
        assert sorted(v.reviewer for v in decision.votes) == sorted(current)
        return
    assert p.review is not None and p.review.decision is None


def test_quorum_words_are_parsed_and_wrong_ones_named() -> None:
    assert Quorum.parse(" Majority ").rule is QuorumRule.MAJORITY
    assert (Quorum.parse("2 of 3").needed, Quorum.parse("2/3").of) == (2, 3)
    with pytest.raises(ValueError, match="is not a quorum rule"):
        Quorum.parse("most")
    with pytest.raises(ValueError, match="N of M needs 1 ≤ N ≤ M"):
        Quorum.parse("4 of 3")


@pytest.mark.parametrize(
    ("quorum", "reviewers", "problem"),
    [
        ("2 of 3", REVIEWERS, "quorum.crawl/walk/qbr: 2 of 3 names 3 reviewers, but there are 4"),
        ({"walk": "one-per-side"}, [{**r, "side": None} for r in REVIEWERS][:2], "quorum.walk: one-per-side needs"),
        ("one-per-side", REVIEWERS[:2], "one-per-side needs reviewers on both sides (us and partner)"),
    ],
)
def test_a_charter_whose_quorum_cannot_be_met_is_refused(quorum: object, reviewers: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        example_charter(governance__reviewers=reviewers, governance__quorum=quorum)


def test_a_charter_without_sides_or_quorum_keeps_the_hash_it_was_signed_with() -> None:
    charter = example_charter()
    plain = charter.model_dump(mode="json")
    for person in plain["governance"]["reviewers"]:
        assert person["side"] is None
    explicit = Charter.model_validate({**plain, "governance": {**plain["governance"], "quorum": "any"}})
    assert explicit.content_hash() == charter.content_hash()
    sided = example_charter(governance__reviewers=REVIEWERS)
    assert sided.content_hash() != charter.content_hash()
