"""Recorded histories replay against today's workflow code: a change that breaks determinism fails CI.

Record them again with `make histories` (it reruns the workflow tests with
RECORD_HISTORIES=1 and writes tests/histories/*.json). The versioning policy is in
the README: until the first release a change to the workflow's commands re-records
them in the same commit; from then on every such change is patched.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.common import RawValue
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from partnerships.domain.vocabulary import WORKFLOW_TYPE, workflow_id_for
from partnerships.engine.contracts import PartnershipOutcome
from partnerships.engine.converter import DATA_CONVERTER
from partnerships.service.audit import audit
from worker import WORKFLOW_RUNNER
from workflows import PartnershipWorkflow

HISTORY_DIR = Path(__file__).parents[1] / "histories"
HISTORIES = sorted(HISTORY_DIR.glob("*.json"))
HISTORIES_BY_NAME = {p.stem: p for p in HISTORIES}


def _history(path: Path) -> WorkflowHistory:
    """The history under the workflow id it ran as: the workflow refuses input that is not its own."""
    text = path.read_text(encoding="utf-8")
    started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    start = json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))
    charter = start["charter"] or start["resume"]["charter"]
    return WorkflowHistory.from_json(workflow_id_for(charter["slug"]), text)


def test_there_are_recorded_histories_for_every_path() -> None:
    every_path = {
        "signing-through-first-qbr",
        "run-resumed-after-continue-as-new",
        "crawl-no-go-exit-closed",
        "walk-fail-restart-crawl",
        "walk-no-go-exit",
        "crawl-override-go",
        "review-decided-by-policy",
        "charter-expired-closed",
        "votes-one-per-side",
        "votes-then-policy",
        "conditional-go-met",
        "conditional-go-unmet",
        "hold-and-reopen",
        "exit-criterion-met",
        "revalidation-then-exit-criterion",
    }
    assert set(HISTORIES_BY_NAME) >= every_path


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.name)
async def test_recorded_history_replays_against_the_current_workflow(path: Path) -> None:
    # On the worker's own sandbox, as a worker taking over a partnership replays it.
    replayer = Replayer(workflows=[PartnershipWorkflow], data_converter=DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER)
    await replayer.replay_workflow(_history(path))


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class ReorderedPartnershipWorkflow(PartnershipWorkflow):
    """A careless change: an extra timer before anything else. Replay must catch it."""

    @workflow.run
    async def run(self, start: RawValue) -> PartnershipOutcome:
        await workflow.sleep(1)
        return await super().run(start)


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class PatchedPartnershipWorkflow(PartnershipWorkflow):
    """The same change made safely, as it must be after the first release: behind `workflow.patched`.

    Runs that started before the change have no marker for the patch, so `patched` is False
    when they replay and they take the old path; new runs record the marker and take the new one.
    """

    @workflow.run
    async def run(self, start: RawValue) -> PartnershipOutcome:
        if workflow.patched("example-extra-timer"):
            await workflow.sleep(1)
        return await super().run(start)


async def test_a_change_that_breaks_determinism_fails_replay() -> None:
    replayer = Replayer(workflows=[ReorderedPartnershipWorkflow], data_converter=DATA_CONVERTER)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(_history(HISTORIES_BY_NAME["signing-through-first-qbr"]))


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.name)
async def test_the_same_change_behind_a_patch_replays_every_recorded_history(path: Path) -> None:
    replayer = Replayer(workflows=[PatchedPartnershipWorkflow], data_converter=DATA_CONVERTER)
    await replayer.replay_workflow(_history(path))


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.name)
def test_todays_histories_carry_no_patch_markers(path: Path) -> None:
    """One generation: until the first release nothing is patched, histories are recorded again."""
    markers = [
        e
        for e in _history(path).events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert markers == []


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.name)
def test_every_act_in_a_recorded_history_passes_the_audit(path: Path) -> None:
    acts = audit([_history(path)])
    assert all(act.holds for act in acts), [act.problems for act in acts if not act.holds]
    # A run continued as new only waits for its next quarter: every other path has people acting.
    assert acts or path.stem == "run-resumed-after-continue-as-new"


def test_the_audit_flags_an_act_edited_in_a_recorded_history() -> None:
    path = HISTORIES_BY_NAME["crawl-override-go"]
    data = json.loads(path.read_text())
    edited = 0
    for event in data["events"]:
        accepted = event.get("workflowExecutionUpdateAcceptedEventAttributes")
        if accepted and accepted["acceptedRequest"]["input"]["name"] == "decide":
            payload = accepted["acceptedRequest"]["input"]["args"]["payloads"][0]
            request = json.loads(base64.b64decode(payload["data"]))
            request["reason"] = "a reason nobody gave"
            payload["data"] = base64.b64encode(json.dumps(request).encode()).decode()
            edited += 1
    assert edited == 1
    workflow_id = _history(path).workflow_id
    acts = audit([WorkflowHistory.from_json(workflow_id, json.dumps(data))])
    assert [act.update for act in acts if not act.holds] == ["decide"]
    assert next(act.problems for act in acts if not act.holds)[0].startswith("proof.signature: ")
