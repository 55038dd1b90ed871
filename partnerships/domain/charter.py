"""The partnership charter: what both sides sign before anything starts (DOMAIN.md §1)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from partnerships.domain import rules
from partnerships.domain.lean import Lean
from partnerships.domain.quorum import QUORUM_WORDS, Quorum, Voter
from partnerships.domain.text import Name, Paragraphs, one_line
from partnerships.domain.vocabulary import Gate, Side, Tier, workflow_id_for

# Bounded text keeps a charter small in every workflow history that carries it.
Text = Paragraphs
Items = Annotated[list[Text], Field(min_length=1, max_length=30)]
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


class Strict(Lean):
    """Charters are typed by people: an unknown key is a typo, not an extension."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    """Someone named in the governance section: only they act on this partnership."""

    name: Name = Field(description="Their full name, as messages and signatures show it.", examples=["Dana Reyes"])
    email: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254), BeforeValidator(one_line)
    ] = Field(
        description="Their email address: who they are on the command line (`--as`) and where email reaches them.",
        examples=["dana@ourco.example"],
        json_schema_extra={"pattern": f"^{EMAIL.pattern}$"},
    )
    slack_user_id: Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,20}$")] | None = Field(
        None,
        description="Their Slack user id (U… or W…): messages mention them, and their clicks count as their acts. "
        "Needs slack_team_id.",
        examples=["U0DANA001"],
    )
    # The Slack workspace the user id belongs to: a click is theirs only from that workspace.
    slack_team_id: Annotated[str, StringConstraints(pattern=r"^[TE][A-Z0-9]{2,20}$")] | None = Field(
        None,
        description="The Slack workspace (T… or E…) their user id belongs to: a click counts only from it.",
        examples=["T0OURCO01"],
    )
    side: Side | None = Field(
        None,
        description="Which company a reviewer is with (us or partner): needed for every reviewer when a gate's "
        "quorum is one-per-side. Decision owners' sides are given by where they stand.",
        examples=["partner"],
    )
    # OpenSSH public key lines (`partnerships login` prints one): requests signed with one of
    # these keys are this person's acts from the command line.
    keys: Annotated[list[PublicKeyLine], Field(max_length=5)] = Field(
        default_factory=list,
        description="Up to five OpenSSH ed25519 public key lines (`partnerships login` prints one): a command "
        "signed with one of them is this person's act.",
    )

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
    """Who the partnership is with."""

    name: Name = Field(description="The partner company's name, as people know it.", examples=["Acme Analytics"])
    kind: PartnerKind = Field(
        description="The kind of partnership: technology (our products work together), channel (they resell "
        "or refer us), co-selling (joint sales) or strategic (co-development, an executive relationship). "
        "Shown with the partner; the rules are the same for every kind.",
        examples=["technology"],
    )


class MutualGoals(Strict):
    """What each of the three parties wants from the partnership."""

    us: Items = Field(
        description="What we want from it.", examples=[["Win mid-market deals where Acme is already installed"]]
    )
    partner: Items = Field(
        description="What the partner wants from it.",
        examples=[["A native integration that lifts Acme's marketplace rating"]],
    )
    customers: Items = Field(
        description="What the customers we share get from it.", examples=[["First dashboard in hours, not days"]]
    )


class ValueExchange(Strict):
    """What each side puts in, and what each loses if it fails (skin in the game)."""

    we_give: Items = Field(
        description="What we put in: engineering time, spend, revenue share, distribution, credibility.",
        examples=[["Two engineers for the connector during Walk"]],
    )
    partner_gives: Items = Field(
        description="What the partner puts in.",
        examples=[["Marketplace listing and co-selling with their account executives"]],
    )
    we_lose_if_it_fails: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        "",
        description="What we lose if it fails. Empty or 'nothing' on both sides is warned about: a handshake, "
        "not a partnership.",
        examples=["Engineering time on the connector and a quarter of co-marketing budget"],
    )
    partner_loses_if_it_fails: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        "",
        description="What the partner loses if it fails; empty or 'nothing' is warned about (no skin in the game).",
        examples=["Their promised native integration for the marketplace certification"],
    )


def _span(span: rules.Span) -> dict[str, Any]:
    """A rule's span in the JSON Schema, so editors flag what the field validator refuses."""
    return {"minimum": span.low, "maximum": span.high}


def _choices(*values: str) -> Callable[[dict[str, Any]], None]:
    """A pattern's alternatives as an enum in the JSON Schema: editors offer them as completions."""

    def as_enum(schema: dict[str, Any]) -> None:
        schema.pop("pattern", None)
        schema["enum"] = list(values)

    return as_enum


_DELIVERABLES = "What the phase delivers, as a list; shown in the rendered charter."


class CrawlPlan(Strict):
    """Crawl: a pilot with one or two customers and a lightweight integration."""

    weeks: int = Field(
        description=f"Planned length of Crawl, {rules.CRAWL_WEEKS.low} to {rules.CRAWL_WEEKS.high} weeks; "
        "the Crawl gate review opens when it ends.",
        examples=[6],
        json_schema_extra=_span(rules.CRAWL_WEEKS),
    )
    pilot_customers: int = Field(
        rules.CRAWL_PILOT_CUSTOMERS.high,
        description=f"How many pilot customers use both products, {rules.CRAWL_PILOT_CUSTOMERS.low} to "
        f"{rules.CRAWL_PILOT_CUSTOMERS.high}; the Crawl gate weighs each pilot's result.",
        json_schema_extra=_span(rules.CRAWL_PILOT_CUSTOMERS),
    )
    deliverables: list[Text] = Field(
        default_factory=list,
        max_length=30,
        description=_DELIVERABLES,
        examples=[["CSV-based lightweight sync", "baseline of time to first dashboard"]],
    )

    @field_validator("weeks")
    @classmethod
    def _crawl_length(cls, value: int) -> int:
        return _within(value, rules.CRAWL_WEEKS)

    @field_validator("pilot_customers")
    @classmethod
    def _pilot_scope(cls, value: int) -> int:
        return _within(value, rules.CRAWL_PILOT_CUSTOMERS)


class WalkPlan(Strict):
    """Walk: more customers invited, a formal integration, co-marketing and sales enablement."""

    weeks: int = Field(
        description=f"Planned length of Walk, {rules.WALK_WEEKS.low} to {rules.WALK_WEEKS.high} weeks; "
        "the Walk gate review opens when it ends.",
        examples=[10],
        json_schema_extra=_span(rules.WALK_WEEKS),
    )
    invited_customers: int = Field(
        rules.WALK_INVITED_CUSTOMERS.low,
        description=f"How many more customers are invited, {rules.WALK_INVITED_CUSTOMERS.low} to "
        f"{rules.WALK_INVITED_CUSTOMERS.high}; the Walk gate measures adoption among them.",
        json_schema_extra=_span(rules.WALK_INVITED_CUSTOMERS),
    )
    deliverables: list[Text] = Field(
        default_factory=list,
        max_length=30,
        description=_DELIVERABLES,
        examples=[["Formal connector", "joint webinar", "sales playbook"]],
    )

    @field_validator("weeks")
    @classmethod
    def _walk_length(cls, value: int) -> int:
        return _within(value, rules.WALK_WEEKS)

    @field_validator("invited_customers")
    @classmethod
    def _walk_scope(cls, value: int) -> int:
        return _within(value, rules.WALK_INVITED_CUSTOMERS)


class RunPlan(Strict):
    """Run: full deployment, joint sales and a quarterly business review (QBR)."""

    months: int = Field(
        description=f"The commitment to Run, {rules.RUN_MONTHS.low} to {rules.RUN_MONTHS.high} months; Run then "
        "goes on quarter by quarter, a QBR each quarter, until the partnership is exited.",
        examples=[12],
        json_schema_extra=_span(rules.RUN_MONTHS),
    )
    deliverables: list[Text] = Field(
        default_factory=list,
        max_length=30,
        description=_DELIVERABLES,
        examples=[["Native integration", "marketplace listing", "joint enterprise sales"]],
    )

    @field_validator("months")
    @classmethod
    def _run_commitment(cls, value: int) -> int:
        return _within(value, rules.RUN_MONTHS)


class Timeline(Strict):
    """How long each phase is planned to last, and what it delivers. Phases run one after another."""

    crawl: CrawlPlan = Field(description="The Crawl phase.")
    walk: WalkPlan = Field(description="The Walk phase.")
    run: RunPlan = Field(description="The Run phase.")


class Metric(Strict):
    """The stated metric the Crawl pilots are measured on."""

    name: Name = Field(description="What is measured.", examples=["time to first dashboard"])
    unit: Name = Field(description="Its unit.", examples=["hours"])
    baseline: Annotated[float, Field(gt=0, le=1e12)] = Field(
        description="Its value today, above 0: what a pilot result is compared with unless it gives its own "
        "value before.",
        examples=[20],
    )
    direction: Direction = Field(
        description="Which way is better: higher-is-better or lower-is-better (the Crawl gate's improvement "
        "is counted that way).",
        examples=["lower-is-better"],
    )


class Measurement(Strict):
    """The metric, how it is tracked and how often both sides look at it."""

    metric: Metric = Field(description="The stated metric, its baseline and its direction.")
    tracked_by: Text = Field(
        description="Where and how the metric is tracked.", examples=["Product analytics dashboard shared with Acme"]
    )
    review_cadence: Annotated[str, StringConstraints(pattern=r"^(weekly|monthly|quarterly)$")] = Field(
        "quarterly",
        description="How often both sides review the metric together: weekly, monthly or quarterly. It is "
        "written into the charter for people; the engine schedules no meeting from it (its own reviews are "
        "the gates at the end of Crawl and Walk, and a QBR each quarter of Run).",
        json_schema_extra=_choices("weekly", "monthly", "quarterly"),
    )


class GateThresholds(Strict):
    """The go/no-go thresholds; below the framework's they are warned about loudly."""

    crawl_min_improvement_pct: Annotated[float, Field(ge=0, le=1000)] = Field(
        rules.CRAWL_MIN_IMPROVEMENT_PCT,
        description="Crawl passes only if every pilot improved the metric by at least this many percent.",
    )
    walk_min_adoption_pct: Annotated[float, Field(ge=0, le=100)] = Field(
        rules.WALK_MIN_ADOPTION_PCT,
        description="Walk passes only if at least this share (percent) of the invited customers adopted.",
    )


class DecisionOwners(Strict):
    """One person on each side: they sign the charter, re-commit before Run and may amend it."""

    us: Person = Field(
        description="Our decision owner.", examples=[{"name": "Dana Reyes", "email": "dana@ourco.example"}]
    )
    partner: Person = Field(
        description="The partner's decision owner.", examples=[{"name": "Sam Okafor", "email": "sam@acme.example"}]
    )


QuorumText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]


def _quorum_text(value: str) -> str:
    return str(Quorum.parse(value))


GateQuorumText = Annotated[QuorumText, AfterValidator(_quorum_text)]


class GateQuorums(Strict):
    """How each gate is decided when reviewers vote: one rule per gate."""

    crawl: GateQuorumText = Field("any", description=f"The Crawl gate: {QUORUM_WORDS}.")
    walk: GateQuorumText = Field("any", description=f"The Walk gate: {QUORUM_WORDS}.")
    qbr: GateQuorumText = Field("any", description=f"Each quarterly business review: {QUORUM_WORDS}.")

    def for_gate(self, gate: Gate) -> Quorum:
        return Quorum.parse({Gate.CRAWL: self.crawl, Gate.WALK: self.walk, Gate.QBR: self.qbr}[gate])


def _one_rule_for_every_gate(value: Any) -> Any:
    if isinstance(value, str):
        return {"crawl": value, "walk": value, "qbr": value}
    return value


class Governance(Strict):
    """Who decides, who reviews the gates and who hears when something is late."""

    decision_owners: DecisionOwners = Field(description="The decision owner on each side.")
    reviewers: Annotated[list[Person], Field(min_length=1, max_length=20)] = Field(
        description="Who votes on each gate review (go, no-go, restart Crawl, extend, hold): 1 to 20 people; "
        "`quorum` says how many must agree.",
        examples=[[{"name": "Lee Park", "email": "lee@ourco.example"}]],
    )
    escalation_path: Annotated[list[Person], Field(min_length=1, max_length=10)] = Field(
        description="Who is told when a signature, a re-commitment or a gate decision is late: 1 to 10 people.",
        examples=[[{"name": "Morgan Chief", "email": "morgan@ourco.example"}]],
    )
    review_window_days: Annotated[int, Field(ge=1, le=30)] = Field(
        7,
        description="Days the reviewers have to decide a gate review, 1 to 30: they are reminded, then the "
        "escalation path is told, and at the end the gate is decided by policy (its automatic recommendation).",
    )
    quorum: Annotated[GateQuorums, BeforeValidator(_one_rule_for_every_gate)] = Field(
        GateQuorums(),
        description="How many reviewers must agree before a gate is decided: one rule for every gate "
        f"(e.g. majority) or one per gate (crawl, walk, qbr), each {QUORUM_WORDS}. Each reviewer votes once and "
        "may change the vote until the quorum agrees; leave out for any one reviewer.",
        examples=["one-per-side", {"crawl": "any", "walk": "one-per-side", "qbr": "majority"}],
    )
    slack_channel: Annotated[str, StringConstraints(pattern=r"^[#A-Za-z0-9_-]{2,80}$")] | None = Field(
        None,
        description="The Slack channel for this partnership's messages; without one, the worker's default channel.",
        examples=["#partner-acme"],
    )

    @model_validator(mode="after")
    def _quorum_fits_the_reviewers(self) -> Governance:
        # Sides are part of what both companies sign; a decision owner cannot be declared on the other side.
        owners = {self.decision_owners.us.email: Side.US, self.decision_owners.partner.email: Side.PARTNER}
        wrong = [
            f"reviewers: {p.email} is the {owners[p.email].value} side's decision owner, not side {p.side.value}"
            for p in self.reviewers
            if p.side is not None and p.email in owners and owners[p.email] is not p.side
        ]
        if wrong:
            raise ValueError("; ".join(wrong))
        gates_by_problem: dict[str, list[str]] = {}
        for gate in Gate:
            problem = self.quorum.for_gate(gate).misfit(self.voters())
            if problem:
                gates_by_problem.setdefault(problem, []).append(gate.value)
        if gates_by_problem:
            raise ValueError(
                "; ".join(f"quorum.{'/'.join(gates)}: {problem}" for problem, gates in gates_by_problem.items())
            )
        return self

    def voters(self) -> list[Voter]:
        return [Voter(p.email, p.side) for p in self.reviewers]


class Signing(Strict):
    """Days after the charter is started (or a re-commitment is due) to remind, escalate and expire."""

    remind_every_days: Annotated[int, Field(ge=1, le=30)] = Field(
        3, description="Remind the decision owners who have not signed every this many days, 1 to 30."
    )
    escalate_after_days: Annotated[int, Field(ge=1, le=90)] = Field(
        7, description="Tell the escalation path after this many days, 1 to 90; less than expire_after_days."
    )
    expire_after_days: Annotated[int, Field(ge=1, le=180)] = Field(
        21, description="Still unsigned after this many days, 1 to 180: the partnership ends by policy."
    )

    @model_validator(mode="after")
    def _escalate_before_expiry(self) -> Signing:
        if not self.escalate_after_days < self.expire_after_days:
            raise ValueError("escalate_after_days must be less than expire_after_days")
        return self


QuartersRunning = Annotated[int, Field(ge=1, le=rules.MAX_EXIT_QUARTERS)]


class ExitRule(Strict):
    """An exit criterion the engine checks at every QBR: exactly one condition, held for `quarters` running."""

    red_quarters: QuartersRunning | None = Field(
        None, description="Met when the scorecard is red this many quarters running.", examples=[2]
    )
    metric_worse_than: Annotated[float, Field(ge=0, le=1e12)] | None = Field(
        None,
        description="Met when the stated metric (the scorecard's metric_value) is worse than this, in the "
        "metric's direction, for `quarters` quarters running.",
        examples=[15],
    )
    revenue_below: Annotated[float, Field(ge=0, le=1e13)] | None = Field(
        None, description="Met when revenue closed is below this for `quarters` quarters running.", examples=[50000]
    )
    adoption_below_pct: Annotated[float, Field(ge=0, le=100)] | None = Field(
        None,
        description="Met when adoption (the scorecard's integration_rate_pct) is below this percentage for "
        "`quarters` quarters running.",
        examples=[40],
    )
    quarters: QuartersRunning = Field(
        1, description="How many quarters running a bound must be missed before the criterion is met."
    )

    @model_validator(mode="after")
    def _exactly_one_condition(self) -> ExitRule:
        named = [
            name
            for name in ("red_quarters", "metric_worse_than", "revenue_below", "adoption_below_pct")
            if getattr(self, name) is not None
        ]
        if len(named) != 1:
            raise ValueError(
                "an exit rule names exactly one of red_quarters, metric_worse_than, revenue_below, "
                f"adoption_below_pct (this one names {', '.join(named) or 'none'})"
            )
        if self.red_quarters is not None and self.quarters != 1:
            raise ValueError("quarters: red_quarters already says how many quarters running")
        return self

    @property
    def quarters_running(self) -> int:
        return self.red_quarters if self.red_quarters is not None else self.quarters

    def describe(self, metric: str, direction: Direction) -> str:
        running = f"{self.quarters} quarters running" if self.quarters > 1 else "a quarter"
        if self.red_quarters is not None:
            return f"red {self.red_quarters} quarters running"
        if self.metric_worse_than is not None:
            worse = "above" if direction is Direction.LOWER_IS_BETTER else "below"
            return f"{metric} {worse} {self.metric_worse_than:g} for {running}"
        if self.revenue_below is not None:
            return f"revenue closed below {self.revenue_below:g} for {running}"
        return f"adoption below {self.adoption_below_pct:g} % for {running}"


def _exit_criterion_kind(value: Any) -> str | None:
    """Text is a checklist item; a mapping is a rule. Told apart up front, so a broken item gets
    one error about what it is, not one per reading of it."""
    if isinstance(value, str):
        return "as-text"
    if isinstance(value, dict | ExitRule):
        return "as-rule"
    return None


ExitCriterion = Annotated[
    Annotated[Text, Tag("as-text")] | Annotated[ExitRule, Tag("as-rule")],
    Discriminator(
        _exit_criterion_kind,
        custom_error_type="exit_criterion",
        custom_error_message="must be text, or an exit rule (a mapping such as {red_quarters: 2})",
    ),
]


# Where a charter keeps its content hash once worked out.
_CONTENT_HASH = "content_hash_cached"


class Charter(Strict):
    """A partnership charter: what both sides sign before the Crawl pilot can start."""

    slug: str = Field(
        description="The partnership's id: 2 to 63 lowercase letters, digits and dashes. Commands take it; "
        "its workflow is `partnership-<slug>`.",
        examples=["acme-analytics"],
        json_schema_extra={"pattern": f"^{SLUG.pattern}$"},
    )
    partner: Partner = Field(description="The partner company, and the kind of partnership it is.")
    tier: Tier = Field(
        description="How deep it goes: "
        + ", ".join(f"{int(tier)} {tier.label}" for tier in Tier)
        + ". Shown and filtered on (`list --tier`); the gates are the same for every tier.",
        examples=[2],
    )
    goals: MutualGoals = Field(description="Mutual goals: what we, the partner and shared customers want.")
    value_exchange: ValueExchange = Field(description="What each side gives, and loses if it fails.")
    leverage: Annotated[list[Leverage], Field(min_length=1, max_length=5)] = Field(
        description="Why the partner needs us, any of: requirement, economic (high: invest fully), competitive, "
        "customer (moderate: invest lightly, let Crawl prove it), co-marketing (low: decline it). Kept strongest "
        "first; the strongest is the partnership's leverage.",
        examples=[["economic"]],
        json_schema_extra={"uniqueItems": True},
    )
    timeline: Timeline = Field(description="Each phase's planned length and deliverables.")
    measurement: Measurement = Field(description="The stated metric and how it is tracked.")
    gates: GateThresholds = Field(
        GateThresholds(), description="The go/no-go thresholds; leave out for the framework's (20 %, 70 %)."
    )
    governance: Governance = Field(description="Decision owners, gate reviewers and the escalation path.")
    signing: Signing = Field(
        Signing(), description="When missing signatures (the charter's, or the re-commitment to Run) are chased."
    )
    exit_criteria: Annotated[list[ExitCriterion], Field(min_length=1, max_length=30)] = Field(
        description="What ends the partnership, agreed up front. Text is a checklist item the QBR reviewers tick; "
        "a rule (red_quarters, metric_worse_than, revenue_below or adoption_below_pct, with quarters) is checked "
        "by the engine at every QBR, which then recommends exit and says which, or a re-validation while a "
        "bound is missed for fewer quarters than it allows. A person still ends it (a no-go or `partnerships exit`).",
        examples=[["Two red quarters in a row"]],
    )

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
        # Worked out once per charter: every message a partnership sends carries it (a fifth of the
        # workflow's own time when it was worked out each time). The charter is frozen; a copy
        # starts without it (`model_copy`). Kept beside the fields, as a cached_property would be:
        # pydantic leaves it out of equality and of every dump.
        cached = self.__dict__.get(_CONTENT_HASH)
        if cached is None:
            cached = self.__dict__[_CONTENT_HASH] = self._hash_content()
        return cached

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop(_CONTENT_HASH, None)
        return copied

    def _hash_content(self) -> str:
        data = self.model_dump(mode="json")
        for person in people_in(data):
            person.pop("keys", None)
            if person.get("side") is None:
                person.pop("side", None)  # added later: a charter without sides keeps the hash it was signed with
        if data["governance"]["quorum"] == GateQuorums().model_dump(mode="json"):
            del data["governance"]["quorum"]  # likewise
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
