"""The partnership charter: what both sides sign before anything starts (DOMAIN.md §1)."""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from partnerships.domain import rules
from partnerships.domain.text import Name, Paragraphs, one_line
from partnerships.domain.vocabulary import Tier, workflow_id_for

# Bounded text keeps a charter small in every workflow history that carries it.
Text = Paragraphs
Items = Annotated[list[Text], Field(min_length=1, max_length=30)]
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


class Strict(BaseModel):
    """Charters are typed by people: an unknown key is a typo, not an extension."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Side(StrEnum):
    US = "us"
    PARTNER = "partner"


class PartnerKind(StrEnum):
    TECHNOLOGY = "technology"
    CHANNEL = "channel"
    CO_SELLING = "co-selling"
    STRATEGIC = "strategic"


class Leverage(StrEnum):
    """Why the partner needs us, strongest first."""

    REQUIREMENT = "requirement"
    ECONOMIC = "economic"
    COMPETITIVE = "competitive"
    CUSTOMER = "customer"
    CO_MARKETING = "co-marketing"

    @property
    def strength(self) -> LeverageStrength:
        if self in (Leverage.REQUIREMENT, Leverage.ECONOMIC):
            return LeverageStrength.HIGH
        if self in (Leverage.COMPETITIVE, Leverage.CUSTOMER):
            return LeverageStrength.MODERATE
        return LeverageStrength.LOW


class LeverageStrength(StrEnum):
    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher-is-better"
    LOWER_IS_BETTER = "lower-is-better"


PublicKeyLine = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=400, pattern=r"^ssh-ed25519 [A-Za-z0-9+/]{68}={0,2}( [^\n]{0,200})?$"
    ),
]


class Person(Strict):
    name: Name
    email: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254), BeforeValidator(one_line)
    ]
    slack_user_id: Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,20}$")] | None = None
    # The Slack workspace the user id belongs to: a click is theirs only from that workspace.
    slack_team_id: Annotated[str, StringConstraints(pattern=r"^[TE][A-Z0-9]{2,20}$")] | None = None
    # OpenSSH public key lines (`partnerships login` prints one): requests signed with one of
    # these keys are this person's acts from the command line.
    keys: Annotated[list[PublicKeyLine], Field(max_length=5)] = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _looks_like_an_email(cls, value: str) -> str:
        if not EMAIL.fullmatch(value):
            raise ValueError("must be an email address")
        return value

    @model_validator(mode="after")
    def _slack_user_with_its_workspace(self) -> Person:
        if self.slack_user_id and not self.slack_team_id:
            raise ValueError(
                "slack_team_id: needed beside slack_user_id (a user id is only unique within its workspace)"
            )
        return self

    def is_identified_by(self, identity: str) -> bool:
        """People act as their email address (CLI) or their Slack user id (Slack)."""
        identity = identity.strip()
        return identity.lower() == self.email or (self.slack_user_id is not None and identity == self.slack_user_id)


class Partner(Strict):
    name: Name
    kind: PartnerKind


class MutualGoals(Strict):
    us: Items
    partner: Items
    customers: Items


class ValueExchange(Strict):
    we_give: Items
    partner_gives: Items
    we_lose_if_it_fails: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""
    partner_loses_if_it_fails: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class CrawlPlan(Strict):
    weeks: int
    pilot_customers: int = rules.CRAWL_PILOT_CUSTOMERS.high
    deliverables: list[Text] = Field(default_factory=list, max_length=30)

    @field_validator("weeks")
    @classmethod
    def _crawl_length(cls, value: int) -> int:
        return _within(value, rules.CRAWL_WEEKS)

    @field_validator("pilot_customers")
    @classmethod
    def _pilot_scope(cls, value: int) -> int:
        return _within(value, rules.CRAWL_PILOT_CUSTOMERS)


class WalkPlan(Strict):
    weeks: int
    invited_customers: int = rules.WALK_INVITED_CUSTOMERS.low
    deliverables: list[Text] = Field(default_factory=list, max_length=30)

    @field_validator("weeks")
    @classmethod
    def _walk_length(cls, value: int) -> int:
        return _within(value, rules.WALK_WEEKS)

    @field_validator("invited_customers")
    @classmethod
    def _walk_scope(cls, value: int) -> int:
        return _within(value, rules.WALK_INVITED_CUSTOMERS)


class RunPlan(Strict):
    months: int
    deliverables: list[Text] = Field(default_factory=list, max_length=30)

    @field_validator("months")
    @classmethod
    def _run_commitment(cls, value: int) -> int:
        return _within(value, rules.RUN_MONTHS)


class Timeline(Strict):
    crawl: CrawlPlan
    walk: WalkPlan
    run: RunPlan


class Metric(Strict):
    name: Name
    unit: Name
    baseline: Annotated[float, Field(gt=0, le=1e12)]
    direction: Direction


class Measurement(Strict):
    metric: Metric
    tracked_by: Text
    review_cadence: Annotated[str, StringConstraints(pattern=r"^(weekly|monthly|quarterly)$")] = "quarterly"


class GateThresholds(Strict):
    crawl_min_improvement_pct: Annotated[float, Field(ge=0, le=1000)] = rules.CRAWL_MIN_IMPROVEMENT_PCT
    walk_min_adoption_pct: Annotated[float, Field(ge=0, le=100)] = rules.WALK_MIN_ADOPTION_PCT


class DecisionOwners(Strict):
    us: Person
    partner: Person


class Governance(Strict):
    decision_owners: DecisionOwners
    reviewers: Annotated[list[Person], Field(min_length=1, max_length=20)]
    escalation_path: Annotated[list[Person], Field(min_length=1, max_length=10)]
    review_window_days: Annotated[int, Field(ge=1, le=30)] = 7
    slack_channel: Annotated[str, StringConstraints(pattern=r"^[#A-Za-z0-9_-]{2,80}$")] | None = None


class Signing(Strict):
    remind_every_days: Annotated[int, Field(ge=1, le=30)] = 3
    escalate_after_days: Annotated[int, Field(ge=1, le=90)] = 7
    expire_after_days: Annotated[int, Field(ge=1, le=180)] = 21

    @model_validator(mode="after")
    def _escalate_before_expiry(self) -> Signing:
        if not self.escalate_after_days < self.expire_after_days:
            raise ValueError("escalate_after_days must be less than expire_after_days")
        return self


class Charter(Strict):
    slug: str
    partner: Partner
    tier: Tier
    goals: MutualGoals
    value_exchange: ValueExchange
    leverage: Annotated[list[Leverage], Field(min_length=1, max_length=5)]
    timeline: Timeline
    measurement: Measurement
    gates: GateThresholds = GateThresholds()
    governance: Governance
    signing: Signing = Signing()
    exit_criteria: Items

    @field_validator("slug")
    @classmethod
    def _slug_is_an_id(cls, value: str) -> str:
        if not SLUG.fullmatch(value):
            raise ValueError("must be 2-63 lowercase letters, digits and dashes, e.g. acme-analytics")
        return value

    @field_validator("leverage")
    @classmethod
    def _strongest_first(cls, value: list[Leverage]) -> list[Leverage]:
        if len(set(value)) != len(value):
            raise ValueError("lists the same leverage twice")
        return sorted(value, key=list(Leverage).index)

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.slug)

    @property
    def leverage_strength(self) -> LeverageStrength:
        return self.leverage[0].strength

    def decision_owner_side(self, identity: str) -> Side | None:
        owners = self.governance.decision_owners
        for side, person in ((Side.US, owners.us), (Side.PARTNER, owners.partner)):
            if person.is_identified_by(identity):
                return side
        return None

    def reviewer(self, identity: str) -> Person | None:
        return next((p for p in self.governance.reviewers if p.is_identified_by(identity)), None)

    def people(self) -> list[Person]:
        """Everyone named in the governance section: only they act on this partnership."""
        return [
            self.governance.decision_owners.us,
            self.governance.decision_owners.partner,
            *self.governance.reviewers,
            *self.governance.escalation_path,
        ]

    def person(self, identity: str) -> Person | None:
        return next((p for p in self.people() if p.is_identified_by(identity)), None)

    def content_hash(self) -> str:
        """What both sides sign: a SHA-256 of the charter's canonical form (sorted JSON). People's
        keys are left out: they change over the years without changing what was agreed."""
        data = self.model_dump(mode="json")
        for person in people_in(data):
            person.pop("keys", None)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def with_keys_changed(self, email: str, *, add: str | None = None, revoke: str | None = None) -> Charter:
        """The same charter with one key added to, or revoked from, every place the person appears."""
        data = self.model_dump(mode="json")
        for person in people_in(data):
            if person["email"] == email.lower():
                kept = [k for k in person["keys"] if revoke is None or not same_key(k, revoke)]
                person["keys"] = [*kept, add] if add is not None else kept
        return Charter.model_validate(data)


def people_in(charter: dict[str, Any]) -> list[dict[str, Any]]:
    """Each person's entry in a charter's plain data (`model_dump`), where keys are edited."""
    governance = charter["governance"]
    return [*governance["decision_owners"].values(), *governance["reviewers"], *governance["escalation_path"]]


def same_key(one: str, other: str) -> bool:
    """Two public key lines name the same key when their type and key match; comments do not count."""
    return one.split()[:2] == other.split()[:2]


def _within(value: int, span: rules.Span) -> int:
    if not span.contains(value):
        raise ValueError(f"must be between {span.low} and {span.high}")
    return value


_NOTHING_AT_STAKE = {"", "nothing", "none", "n/a", "na", "zero", "-", "nothing really"}


class CharterWarning(Strict):
    field: str
    message: str
    loud: bool = False


def charter_warnings(charter: Charter) -> list[CharterWarning]:
    """The framework's advice on a valid charter: things that should make a manager pause."""
    warnings: list[CharterWarning] = []
    strength = charter.leverage_strength
    if strength is LeverageStrength.LOW:
        warnings.append(
            CharterWarning(
                field="leverage",
                message="co-marketing only is low leverage: this is a partnership to decline, "
                "not to run (nothing changes for the partner if it never happens)",
                loud=True,
            )
        )
    elif strength is LeverageStrength.MODERATE:
        warnings.append(
            CharterWarning(
                field="leverage",
                message="moderate leverage (competitive/customer): invest lightly and let Crawl prove it",
            )
        )
    exchange = charter.value_exchange
    we_lose = exchange.we_lose_if_it_fails.lower() not in _NOTHING_AT_STAKE
    they_lose = exchange.partner_loses_if_it_fails.lower() not in _NOTHING_AT_STAKE
    if not we_lose and not they_lose:
        warnings.append(
            CharterWarning(
                field="value_exchange",
                message="neither side loses anything if it fails: that is a handshake, not a partnership",
                loud=True,
            )
        )
    elif not they_lose:
        warnings.append(
            CharterWarning(
                field="value_exchange.partner_loses_if_it_fails",
                message="the partner has no skin in the game",
            )
        )
    elif not we_lose:
        warnings.append(
            CharterWarning(field="value_exchange.we_lose_if_it_fails", message="we have no skin in the game")
        )
    if charter.gates.crawl_min_improvement_pct < rules.CRAWL_MIN_IMPROVEMENT_PCT:
        warnings.append(
            CharterWarning(
                field="gates.crawl_min_improvement_pct",
                message=f"below the framework's {rules.CRAWL_MIN_IMPROVEMENT_PCT:g} %: a weak pilot would pass",
                loud=True,
            )
        )
    if charter.gates.walk_min_adoption_pct < rules.WALK_MIN_ADOPTION_PCT:
        warnings.append(
            CharterWarning(
                field="gates.walk_min_adoption_pct",
                message=f"below the framework's {rules.WALK_MIN_ADOPTION_PCT:g} %: "
                "a Walk most customers ignored would pass",
                loud=True,
            )
        )
    return warnings
