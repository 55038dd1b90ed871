"""Tasks belong to people: which tasks a phase's end makes moot, who may close one, when one is overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from partnerships.domain.gates import Outcome, PilotResult
from partnerships.domain.lifecycle import (
    CompleteTaskRequest,
    DecisionRequest,
    ExitRequest,
    Partnership,
    Phase,
    PilotResultRequest,
    RecommitRequest,
    SignRequest,
    Step,
    TaskKind,
    TaskRef,
    TimeScale,
    WalkResultRequest,
)
from tests.helpers import PARTNER, REVIEWER, US, example_charter

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ESCALATION = "morgan@ourco.example"  # named in the charter, but neither an owner nor a reviewer


def _task(kind: TaskKind, key: str, owner: str = US, due_in_days: float | None = 7) -> TaskRef:
    due = None if due_in_days is None else START + timedelta(days=due_in_days)
    return TaskRef(id=f"p:{kind.value}:{key}", kind=kind, title=key, owner=owner, due_at=due)


def _in_walk() -> tuple[Partnership, datetime]:
    p = Partnership.begin(example_charter(), TimeScale(), START)
    p.apply_signature(SignRequest(signer=US), START)
    p.apply_signature(SignRequest(signer=PARTNER), START)
    for customer in ("Initech", "Hooli"):
        pilot = PilotResult(customer=customer, metric_before=20, metric_after=10, would_recommend=True)
        p.apply_pilot_result(PilotResultRequest(recorded_by=US, pilot=pilot, integration_can_scale=True))
    assert p.phase_ends_at is not None
    now = p.phase_ends_at
    p.open_review(now)
    p.apply_decision(DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO), now)
    assert p.phase is Phase.WALK
    return p, now


def _at_walk_gate(p: Partnership, now: datetime, adopted: int) -> datetime:
    p.apply_walk_result(
        WalkResultRequest(recorded_by=US, invited=10, adopted=adopted, partner_promoting=True, support_manageable=True)
    )
    assert p.phase_ends_at is not None
    p.open_review(p.phase_ends_at)
    return p.phase_ends_at


def test_a_restarted_crawl_makes_the_old_crawl_and_walk_kickoff_tasks_moot() -> None:
    p, now = _in_walk()
    crawl, walk = _task(TaskKind.CRAWL_KICKOFF, "baseline"), _task(TaskKind.WALK_KICKOFF, "invite")
    p.add_tasks([crawl, walk])
    now = _at_walk_gate(p, now, adopted=2)
    transition = p.apply_decision(
        DecisionRequest(reviewer=REVIEWER, outcome=Outcome.RESTART_CRAWL, reason="pilot the self-serve tier"), now
    )
    assert p.phase is Phase.CRAWL and p.crawl_attempt == 2
    assert transition.cancelled_tasks == [crawl.id, walk.id]
    assert p.open_tasks == []
    assert transition.tasks is TaskKind.CRAWL_KICKOFF  # the new Crawl gets its own


def test_advancing_keeps_a_phases_open_kickoff_tasks() -> None:
    p, now = _in_walk()
    walk = _task(TaskKind.WALK_KICKOFF, "formal-integration", owner=PARTNER)
    p.add_tasks([walk])
    now = _at_walk_gate(p, now, adopted=8)
    transition = p.apply_decision(DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO), now)
    assert transition.cancelled_tasks == []
    p.apply_recommitment(RecommitRequest(signer=US, roi_model_holds=True), now)
    p.apply_recommitment(RecommitRequest(signer=PARTNER, roi_model_holds=True), now)
    assert p.phase is Phase.RUN
    assert p.open_tasks == [walk]


def test_an_exit_makes_every_task_but_the_wind_down_moot() -> None:
    p, now = _in_walk()
    walk, qbr = _task(TaskKind.WALK_KICKOFF, "invite"), _task(TaskKind.QBR, "scorecard")
    p.add_tasks([walk, qbr])
    transition = p.apply_exit(ExitRequest(by=US, reason="Acme was acquired"), now)
    assert transition.cancelled_tasks == [walk.id, qbr.id]
    assert transition.tasks is TaskKind.EXIT


def test_only_the_owner_a_decision_owner_or_a_reviewer_closes_a_task() -> None:
    p, _ = _in_walk()
    theirs = _task(TaskKind.WALK_KICKOFF, "formal-integration", owner=PARTNER)
    p.add_tasks([theirs])
    refused = p.problems_completing_task(CompleteTaskRequest(task_id=theirs.id, by=ESCALATION))
    assert refused == [
        f"task_id: {theirs.id} belongs to {PARTNER}; only its owner, a decision owner or a reviewer may close it"
    ]
    for allowed in (PARTNER, US, REVIEWER):
        assert p.problems_completing_task(CompleteTaskRequest(task_id=theirs.id, by=allowed)) == []


def test_someone_outside_the_charter_closes_nothing() -> None:
    p, _ = _in_walk()
    task = _task(TaskKind.WALK_KICKOFF, "invite")
    p.add_tasks([task])
    assert p.problems_completing_task(CompleteTaskRequest(task_id=task.id, by="eve@elsewhere.example")) == [
        "by: eve@elsewhere.example is not named in the charter's governance"
    ]


def test_a_task_falls_overdue_once_when_its_due_date_passes_while_open() -> None:
    p, _ = _in_walk()
    soon, later, undated = (
        _task(TaskKind.WALK_KICKOFF, "soon", due_in_days=3),
        _task(TaskKind.WALK_KICKOFF, "later", due_in_days=10),
        _task(TaskKind.WALK_KICKOFF, "undated", due_in_days=None),
    )
    p.add_tasks([soon, later, undated])
    assert p.next_task_due() == soon.due_at
    assert p.mark_overdue_tasks(START + timedelta(days=2)) == []
    assert [t.id for t in p.mark_overdue_tasks(START + timedelta(days=3))] == [soon.id]
    # Reminded once: the same moment again marks nothing, and the next date is the later task's.
    assert p.mark_overdue_tasks(START + timedelta(days=3)) == []
    assert p.next_task_due() == later.due_at
    assert [t.id for t in p.overdue_tasks] == [soon.id]
    p.apply_task_completion(CompleteTaskRequest(task_id=soon.id, by=US))
    assert p.overdue_tasks == []


def test_status_says_the_gate_opens_at_the_periods_end_once_the_evidence_is_complete() -> None:
    p = Partnership.begin(example_charter(), TimeScale(), START)
    p.apply_signature(SignRequest(signer=US), START)
    p.apply_signature(SignRequest(signer=PARTNER), START)
    assert p.phase_ends_at is not None
    ends = f"{p.phase_ends_at:%Y-%m-%d %H:%M} UTC"
    assert p.awaiting() == (
        "results of 2 more pilot(s), whether the integration can scale (anyone named in the charter "
        f"records it) before the Crawl gate review opens {ends}"
    )
    for customer in ("Initech", "Hooli"):
        pilot = PilotResult(customer=customer, metric_before=20, metric_after=10, would_recommend=True)
        p.apply_pilot_result(PilotResultRequest(recorded_by=US, pilot=pilot, integration_can_scale=True))
    assert p.awaiting() == f"the end of the period: the evidence is complete; the Crawl gate review opens {ends}"


def test_a_gate_review_says_who_decides_until_when_and_what_policy_does_after() -> None:
    p, now = _in_walk()
    _at_walk_gate(p, now, adopted=8)
    review = p.review
    assert review is not None and p.step is Step.GATE_REVIEW
    awaiting = p.awaiting()
    assert awaiting.startswith("a decision on the Walk gate review from Dana Reyes, Lee Park by ")
    for moment in (review.remind_at, review.escalate_at, review.policy_at):
        assert f"{moment:%Y-%m-%d %H:%M} UTC" in awaiting
    assert "decided by policy (go)" in awaiting


def test_a_rehearsal_sets_its_own_review_window_while_everything_else_is_compressed() -> None:
    scale = TimeScale(seconds_per_week=0.5, review_window_seconds=120)
    assert scale.review_window(7) == timedelta(minutes=2)
    assert TimeScale(seconds_per_week=0.5).review_window(7) == timedelta(seconds=0.5)
    assert scale.describe() == "rehearsal: 1 week = 0.5 s, review window 2 min"
    p = Partnership.begin(example_charter(), scale, START)
    # Every wait for people keeps the charter's proportions to the window (30 days here):
    # the charter's 60 days to sign become 4 minutes, not 4 seconds.
    assert p.signing_deadlines()[2] - START == timedelta(minutes=4)
    p.apply_signature(SignRequest(signer=US), START)
    p.apply_signature(SignRequest(signer=PARTNER), START)
    assert p.phase_ends_at is not None
    review = p.open_review(p.phase_ends_at)
    assert review.remind_at - review.opened_at == timedelta(minutes=2)
    assert review.policy_at - review.opened_at == timedelta(minutes=4)
    # Rehearsal deadlines are seconds apart: status shows the seconds.
    assert f"{review.remind_at:%H:%M:%S} UTC" in p.awaiting()


def test_a_second_walk_after_a_restarted_crawl_gets_kickoff_tasks_of_its_own() -> None:
    p, now = _in_walk()
    first_walk = p.batch_key(TaskKind.WALK_KICKOFF)
    now = _at_walk_gate(p, now, adopted=2)
    p.apply_decision(DecisionRequest(reviewer=REVIEWER, outcome=Outcome.RESTART_CRAWL, reason="self-serve tier"), now)
    assert p.batch_key(TaskKind.WALK_KICKOFF) != first_walk
    assert p.batch_key(TaskKind.CRAWL_KICKOFF).endswith(":crawl-2")


def test_only_a_rehearsal_sets_its_own_review_window_and_never_longer_than_real_time() -> None:
    with pytest.raises(ValidationError, match="only a rehearsal"):
        TimeScale(review_window_seconds=60)
    # A generous window with a short charter window: nobody waits longer than the charter says for real.
    scale = TimeScale(seconds_per_week=0.5, review_window_seconds=30 * 86400)
    assert scale.time_to_respond(180, review_window_days=1) == timedelta(days=180)
