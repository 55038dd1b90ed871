"""What people see of a partnership is a pure function of its state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from partnerships.domain import views
from partnerships.domain.charter import Side
from partnerships.domain.gates import PilotResult
from partnerships.domain.lifecycle import Partnership, PilotResultRequest, SignRequest, TimeScale
from tests.helpers import PARTNER, US, example_charter

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _in_crawl_review() -> Partnership:
    p = Partnership.begin(example_charter(), TimeScale(), NOW)
    p.apply_signature(SignRequest(signer=US), NOW)
    p.apply_signature(SignRequest(signer=PARTNER), NOW)
    p.apply_pilot_result(
        PilotResultRequest(
            recorded_by=US,
            pilot=PilotResult(customer="Initech", metric_before=10, metric_after=7, would_recommend=True),
        )
    )
    assert p.phase_ends_at is not None
    p.open_review(p.phase_ends_at)
    return p


def test_the_web_ui_details_show_the_gate_as_it_stands_and_the_recommendation() -> None:
    p = _in_crawl_review()
    assert p.review is not None
    details = views.current_details(p, "Crawl gate review opened")
    assert details.startswith(f"## {p.charter.partner.name} — Crawl (gate-review)")
    assert "**Latest:** Crawl gate review opened" in details
    for criterion in p.review.evaluation.criteria:
        assert f"| {criterion.key} |" in details
    assert f"**Recommendation:** {p.review.evaluation.recommendation.value}" in details


def test_two_snapshots_of_an_unchanged_partnership_have_the_same_facts() -> None:
    p = _in_crawl_review()
    earlier, later = views.snapshot_of(p, NOW), views.snapshot_of(p, NOW + timedelta(hours=1))
    assert earlier != later and earlier.facts_digest() == later.facts_digest()
    p.end_reason = "changed"
    assert views.snapshot_of(p, NOW).facts_digest() != earlier.facts_digest()


def test_only_the_owners_who_have_not_signed_are_reminded() -> None:
    p = Partnership.begin(example_charter(), TimeScale(), NOW)
    owners = p.charter.governance.decision_owners
    assert views.unsigned_owners(p) == [owners.us, owners.partner]
    p.apply_signature(SignRequest(signer=PARTNER), NOW)
    assert views.unsigned_owners(p) == [owners.us]
    assert p.unsigned_sides() == [Side.US]


def test_show_says_a_decision_by_policy_once_and_names_no_person() -> None:
    from partnerships.cli.app import out
    from partnerships.cli.render import _print_review

    review = {
        "label": "Crawl gate review",
        "id": "review-1",
        "opened_at": "2026-03-02T09:30:00+00:00",
        "evidence": {},
        "criteria": [],
        "recommendation": "go",
        "rationale": "every criterion passed",
        "outcome": "go",
        "overrides_failing_gate": False,
        "by_policy": True,
        "decided_by": "policy",
        "decided_by_name": "policy",
        "decided_at": "2026-03-30T09:30:00+00:00",
        "reason": "no decision in the review window",
    }
    with out.capture() as shown:
        _print_review(review)
    [decision] = [line for line in shown.get().splitlines() if "decision:" in line]
    assert decision.startswith("  decision: go by policy ")
    assert decision.endswith(" — no decision in the review window")
    assert decision.lower().count("policy") == 1 and "<" not in decision


def test_the_snapshot_names_the_next_deadline_of_the_step_under_way_and_a_rehearsal() -> None:
    p = Partnership.begin(example_charter(), TimeScale(), NOW)
    snapshot = views.snapshot_of(p, NOW)
    assert (snapshot.next_deadline, snapshot.next_deadline_at) == ("charter expires unsigned", NOW + timedelta(days=60))
    assert snapshot.rehearsal == ""
    p = _in_crawl_review()
    assert p.review is not None
    # The end of the review window, as `awaiting` says: not the later decision by policy.
    assert views.next_deadline(p) == ("Crawl gate review decision due", p.review.remind_at)
    rehearsal = Partnership.begin(example_charter(), TimeScale(seconds_per_week=60), NOW)
    rehearsal.apply_signature(SignRequest(signer=US), NOW)
    rehearsal.apply_signature(SignRequest(signer=PARTNER), NOW)
    snapshot = views.snapshot_of(rehearsal, NOW)
    assert snapshot.rehearsal is not None and snapshot.rehearsal.startswith("rehearsal: 1 week = 60 s")
    crawl_ends = NOW + timedelta(minutes=4)  # 4 weeks of a minute each
    assert (snapshot.next_deadline, snapshot.next_deadline_at) == ("Crawl gate review opens", crawl_ends)
