"""How a gate is decided when several reviewers vote: the quorum rules, in one place.

A charter names a rule per gate (`governance.quorum`). Every reviewer has at most one
current vote and may change it until the decision is final; the decision is final the
moment one outcome has the votes the rule asks for. These are pure functions of the
reviewers and their votes, so the workflow, `what-if` and the property tests agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from partnerships.domain.vocabulary import Outcome, Side


class QuorumRule(StrEnum):
    ANY = "any"  # one reviewer's vote decides (the default)
    MAJORITY = "majority"  # more than half of the reviewers agree
    ALL = "all"  # every reviewer agrees
    ONE_PER_SIDE = "one-per-side"  # a reviewer of ours and one of the partner's agree
    N_OF_M = "n-of-m"  # at least N of the M reviewers agree


_N_OF_M = re.compile(r"^\s*(\d{1,2})\s*(?:of|/)\s*(\d{1,2})\s*$")
QUORUM_WORDS = "any, majority, all, one-per-side, or N of M (e.g. 2 of 3)"


@dataclass(frozen=True)
class Quorum:
    rule: QuorumRule
    # N for N of M; M is the number of reviewers, checked against the charter.
    needed: int | None = None
    of: int | None = None

    @classmethod
    def parse(cls, text: str) -> Quorum:
        """'any', 'majority', 'all', 'one-per-side' or 'N of M'; ValueError names what is accepted."""
        word = text.strip().lower()
        matched = _N_OF_M.match(word)
        if matched:
            needed, of = int(matched.group(1)), int(matched.group(2))
            if not 1 <= needed <= of:
                raise ValueError(f"{text!r}: N of M needs 1 ≤ N ≤ M")
            return cls(QuorumRule.N_OF_M, needed, of)
        try:
            rule = QuorumRule(word)
        except ValueError:
            raise ValueError(f"{text!r} is not a quorum rule: use {QUORUM_WORDS}") from None
        if rule is QuorumRule.N_OF_M:
            raise ValueError(f"{text!r}: write N of M with numbers, e.g. 2 of 3")
        return cls(rule)

    def __str__(self) -> str:
        if self.rule is QuorumRule.N_OF_M:
            return f"{self.needed} of {self.of}"
        return self.rule.value

    def misfit(self, voters: Sequence[Voter]) -> str | None:
        """Why these reviewers can never satisfy this quorum (a charter refuses it), or None."""
        if self.rule is QuorumRule.N_OF_M and self.of != len(voters):
            return f"{self} names {self.of} reviewers, but there are {len(voters)}"
        if self.rule is QuorumRule.ONE_PER_SIDE:
            unsided = [v.email for v in voters if v.side is None]
            if unsided:
                return f"one-per-side needs every reviewer's side (missing for {', '.join(unsided)})"
            if {v.side for v in voters} != {Side.US, Side.PARTNER}:
                return "one-per-side needs reviewers on both sides (us and partner)"
        return None

    def describe(self, reviewers: int) -> str:
        """In people's words, for the review's message and `status`."""
        return {
            QuorumRule.ANY: "any one reviewer decides",
            QuorumRule.MAJORITY: f"a majority ({reviewers // 2 + 1} of {reviewers}) decides",
            QuorumRule.ALL: f"all {reviewers} reviewers must agree",
            QuorumRule.ONE_PER_SIDE: "a reviewer from each side must agree",
            QuorumRule.N_OF_M: f"{self.needed} of {reviewers} reviewers must agree",
        }[self.rule]


@dataclass(frozen=True)
class Voter:
    """A reviewer as the quorum sees them: who, and which company they are with."""

    email: str
    side: Side | None


@dataclass(frozen=True)
class Ballot:
    """One reviewer's current vote."""

    email: str
    outcome: Outcome


def agreeing(outcome: Outcome, ballots: Sequence[Ballot]) -> list[Ballot]:
    return [b for b in ballots if b.outcome is outcome]


def reached(quorum: Quorum, voters: Sequence[Voter], ballots: Sequence[Ballot]) -> Outcome | None:
    """The outcome the quorum agrees on, or None while no outcome has the votes it needs.

    Only voters' ballots count, each voter once (the latest ballot): a vote from anyone else
    never helps an outcome to its quorum. When two outcomes both have enough (possible only
    for rules below a majority), the one with more votes wins, then the earlier-cast."""
    by_email = {v.email: v for v in voters}
    latest: dict[str, Ballot] = {}
    for ballot in ballots:
        if ballot.email in by_email:
            latest.pop(ballot.email, None)
            latest[ballot.email] = ballot
    counted = list(latest.values())
    candidates = [
        o for o in dict.fromkeys(b.outcome for b in counted) if _has_quorum(quorum, voters, by_email, o, counted)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda o: len(agreeing(o, counted)))


def _has_quorum(
    quorum: Quorum, voters: Sequence[Voter], by_email: dict[str, Voter], outcome: Outcome, ballots: list[Ballot]
) -> bool:
    votes = agreeing(outcome, ballots)
    count, total = len(votes), len(voters)
    if count == 0:
        return False
    rule = quorum.rule
    if rule is QuorumRule.ANY:
        return True
    if rule is QuorumRule.MAJORITY:
        return count * 2 > total
    if rule is QuorumRule.ALL:
        return count == total
    if rule is QuorumRule.N_OF_M:
        assert quorum.needed is not None
        return count >= quorum.needed
    sides = {by_email[b.email].side for b in votes}
    return Side.US in sides and Side.PARTNER in sides


def still_needed(quorum: Quorum, voters: Sequence[Voter], ballots: Sequence[Ballot]) -> str:
    """What the leading outcome still lacks, in a few words ('1 more vote', 'a vote from the partner's side')."""
    counted = {b.email: b for b in ballots if any(v.email == b.email for v in voters)}
    total = len(voters)
    best = max((len(agreeing(o, list(counted.values()))) for o in {b.outcome for b in counted.values()}), default=0)
    rule = quorum.rule
    if rule is QuorumRule.ANY:
        return "1 vote"
    if rule is QuorumRule.ONE_PER_SIDE:
        return "agreeing votes from a reviewer on each side"
    need = {QuorumRule.MAJORITY: total // 2 + 1, QuorumRule.ALL: total}.get(rule, quorum.needed or 1)
    left = max(need - best, 1)
    return f"{left} more agreeing vote{'s' if left != 1 else ''}"
