"""What people type is taken as typed, normalised, and refused when it hides something.

Every door (charter files, CLI, Slack, raw clients) reaches the same pydantic types, so
pinning them here pins every door; the integration tier sends the same inputs to the
real workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from partnerships.adapters.charter_file import CharterError, parse_charter
from partnerships.adapters.slack import blocks
from partnerships.domain import rules
from partnerships.domain.gates import PilotResult
from partnerships.domain.lifecycle import (
    DecisionRequest,
    ExitRequest,
    Partnership,
    PilotResultRequest,
    RecommitRequest,
    SignRequest,
    TimeScale,
    WalkResultRequest,
)
from partnerships.domain.text import same_text, visible_length
from partnerships.domain.vocabulary import Outcome
from partnerships.engine.notifier import OutgoingMessage
from tests.helpers import EXAMPLE_CHARTER, OUTSIDER, PARTNER, REVIEWER, US, example_charter

NOW = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
# "Initech" in fullwidth letters: NFKC makes it plain "Initech".
FULLWIDTH_INITECH = "".join(chr(ord(c) + 0xFEE0) for c in "Initech")
HIDDEN = ["\u200b", "\u200d", "\u202e", "\u2066", "\x00", "\x1b", "\ufeff", "\u2028"]


@pytest.mark.parametrize("hidden", HIDDEN, ids=lambda c: f"U+{ord(c):04X}")
def test_text_hiding_invisible_or_control_characters_is_refused_naming_the_field(hidden: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ExitRequest.model_validate({"by": US, "reason": f"we{hidden} are done"})
    assert refused.value.errors()[0]["loc"] == ("reason",)
    assert "invisible or control characters" in str(refused.value)


def test_a_name_may_not_break_lines_but_a_reason_may() -> None:
    with pytest.raises(ValidationError):
        SignRequest.model_validate({"signer": "dana@ourco.example\nBcc: eve@elsewhere.example"})
    assert (
        ExitRequest.model_validate({"by": US, "reason": "first line\nsecond line"}).reason == "first line\nsecond line"
    )


def test_text_is_normalised_so_lookalike_spellings_are_one_customer() -> None:
    fullwidth = PilotResult.model_validate(
        {"customer": FULLWIDTH_INITECH, "metric_before": 10, "metric_after": 7, "would_recommend": True}
    )
    assert fullwidth.customer == "Initech"
    assert same_text("INITECH", " initech ")


@pytest.mark.parametrize("value", ["yes", 1, "true", 0, None], ids=repr)
def test_a_boolean_is_only_true_or_false(value: object) -> None:
    with pytest.raises(ValidationError):
        RecommitRequest.model_validate_json(f'{{"signer": "{US}", "roi_model_holds": {_json(value)}}}')


@pytest.mark.parametrize("value", ['"5"', "5.0", "true"], ids=str)
def test_a_count_is_only_a_whole_number(value: str) -> None:
    with pytest.raises(ValidationError):
        WalkResultRequest.model_validate_json(f'{{"recorded_by": "{US}", "invited": {value}}}')


def test_an_override_reason_counts_the_characters_a_reader_sees() -> None:
    p = _crawl_review_failing()
    padded = "ok" + " " * 40
    problems = p.problems_deciding(DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO, reason=padded))
    assert any(problem.startswith("reason:") for problem in problems)
    assert visible_length("  fifteen letters!  ") == 16


def test_a_second_spelling_of_a_pilot_corrects_it_instead_of_filling_a_slot() -> None:
    p = _in_crawl()
    for customer in ("Initech", "INITECH", FULLWIDTH_INITECH, " initech "):
        request = PilotResultRequest(recorded_by=US, pilot=_pilot(customer))
        assert p.problems_recording_pilot(request) == []
        p.apply_pilot_result(request)
    assert [pilot.customer for pilot in p.crawl.pilots] == [" initech ".strip()]


def test_a_refusal_never_names_other_peoples_emails() -> None:
    p = _crawl_review_failing()
    owners = p.charter.governance.decision_owners
    others = {owners.us.email, owners.partner.email, *(r.email for r in p.charter.governance.reviewers)}
    problems = p.problems_signing(SignRequest(signer=OUTSIDER)) + p.problems_deciding(
        DecisionRequest(reviewer=OUTSIDER, outcome=Outcome.GO, reason="")
    )
    assert problems
    assert not [email for email in others for problem in problems if email in problem]


@pytest.mark.parametrize("slug", ["x\n", "acme\n", "acme analytics", "Acme", "-acme", "a"], ids=repr)
def test_a_slug_is_matched_in_full(slug: str) -> None:
    data = yaml.safe_load(EXAMPLE_CHARTER.read_text())
    data["slug"] = slug
    with pytest.raises(CharterError) as refused:
        parse_charter(yaml.safe_dump(data))
    assert [p for p in refused.value.problems if p.startswith("slug:")]


def test_a_charter_field_holding_a_nul_is_refused_before_any_database_sees_it() -> None:
    data = yaml.safe_load(EXAMPLE_CHARTER.read_text())
    data["partner"]["name"] = "Acme\x00Analytics"
    with pytest.raises(CharterError) as refused:
        parse_charter(yaml.safe_dump(data, allow_unicode=True))
    assert any(p.startswith("partner.name:") for p in refused.value.problems)


@pytest.mark.parametrize("seconds", [0.000000001, 0.049, 7 * 24 * 3600 + 1], ids=str)
def test_a_time_scale_outside_a_twentieth_of_a_second_to_a_week_per_week_is_refused(seconds: float) -> None:
    with pytest.raises(ValidationError):
        TimeScale(seconds_per_week=seconds)


def test_a_compressed_time_scale_calls_itself_a_rehearsal() -> None:
    assert TimeScale().describe() == "" and not TimeScale().is_rehearsal
    assert TimeScale(seconds_per_week=rules.FASTEST_SECONDS_PER_WEEK).describe() == "rehearsal: 1 week = 0.05 s"
    assert TimeScale(seconds_per_week=120).describe() == "rehearsal: 1 week = 2 min"


def test_slack_shows_peoples_text_literally_in_blocks_and_fallback() -> None:
    message = OutgoingMessage(
        key="k",
        kind="partnership-ended",
        partnership_id="partnership-acme",
        audience=[US],
        subject="<!channel> Acme & co ended",
        body="exit by Dana: <!here> see <https://evil.example|the contract> <@U123>",
        link="http://ui.example/workflows/partnership-acme",
    )
    texts = [b["text"]["text"] for b in blocks.generic_blocks(message) if b.get("type") == "section"]
    assert texts and all("<" not in text for text in texts)
    assert "&lt;!here&gt;" in texts[0] and "&lt;@U123&gt;" in texts[0]
    assert blocks.fallback_text(message) == "&lt;!channel&gt; Acme &amp; co ended"


# Hostile text at every text field of every request: refused, or kept as plain visible text.
_FIELDS = [
    (SignRequest, "signer"),
    (ExitRequest, "reason"),
    (DecisionRequest, "reason"),
    (PilotResultRequest, "recorded_by"),
]


@settings(max_examples=1000, deadline=None)
@given(
    field=st.sampled_from(_FIELDS),
    text=st.lists(
        st.one_of(st.characters(), st.sampled_from(HIDDEN), st.sampled_from(["<!channel>", "\r\n", "'", " "])),
        max_size=40,
    ).map("".join),
)
def test_hostile_text_is_refused_or_kept_as_plain_visible_text(field: tuple[type, str], text: str) -> None:
    model, name = field
    base = {
        SignRequest: {"signer": US},
        ExitRequest: {"by": US, "reason": "done"},
        DecisionRequest: {"reviewer": REVIEWER, "outcome": "go"},
        PilotResultRequest: {"recorded_by": US, "integration_can_scale": True},
    }[model]
    try:
        request = model.model_validate({**base, name: text})
    except ValidationError:
        return
    kept = getattr(request, name)
    assert "\x00" not in kept and not any(c in kept for c in HIDDEN)
    assert kept == kept.strip()


def _json(value: object) -> str:
    return "null" if value is None else (f'"{value}"' if isinstance(value, str) else str(value))


def _pilot(customer: str, after: float = 7) -> PilotResult:
    return PilotResult(customer=customer, metric_before=10, metric_after=after, would_recommend=True)


def _in_crawl() -> Partnership:
    p = Partnership.begin(example_charter(), TimeScale(), NOW)
    p.apply_signature(SignRequest(signer=US), NOW)
    p.apply_signature(SignRequest(signer=PARTNER), NOW)
    return p


def _crawl_review_failing() -> Partnership:
    p = _in_crawl()
    p.apply_pilot_result(PilotResultRequest(recorded_by=US, pilot=_pilot("Initech", after=9.9)))
    assert p.phase_ends_at is not None
    p.open_review(p.phase_ends_at)
    return p
