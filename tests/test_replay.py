"""Recorded histories replay against today's workflow code: a change that breaks determinism fails CI.

Record new histories with `make histories` (it reruns the workflow tests with
RECORD_HISTORIES=1 and writes tests/histories/*.json); commit them with the change
that made them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from partnerships.contracts import PartnershipOutcome, StartPartnership
from workflows import PartnershipWorkflow
from workflows.partnership import NOTIFICATIONS_IN_BACKGROUND, ONE_RECORD_PER_STEP, OVERRIDES_REACH_ESCALATION

HISTORY_DIR = Path(__file__).parent / "histories"
# Top level: histories of today's code. Subfolders (v1/ …): histories recorded before a
# patched change, kept so partnerships started on older code keep replaying.
HISTORIES = sorted(HISTORY_DIR.rglob("*.json"))
HISTORIES_BY_NAME = {str(p.relative_to(HISTORY_DIR).with_suffix("")): p for p in HISTORIES}


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


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
    }
    older = {f"{version}/{name}" for version in ("v1", "v2") for name in every_path}
    assert set(HISTORIES_BY_NAME) >= every_path | older


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: str(p.relative_to(HISTORY_DIR)))
async def test_recorded_history_replays_against_the_current_workflow(path: Path) -> None:
    replayer = Replayer(workflows=[PartnershipWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(_history(path))


@workflow.defn(name="PartnershipWorkflow", sandboxed=False)
class ReorderedPartnershipWorkflow(PartnershipWorkflow):
    """A careless change: an extra timer before anything else. Replay must catch it."""

    @workflow.run
    async def run(self, start: StartPartnership) -> PartnershipOutcome:
        await workflow.sleep(1)
        return await super().run(start)


async def test_a_change_that_breaks_determinism_fails_replay() -> None:
    replayer = Replayer(workflows=[ReorderedPartnershipWorkflow], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(_history(HISTORIES_BY_NAME["signing-through-first-qbr"]))


def _patch_markers(name: str) -> list[str]:
    events = _history(HISTORIES_BY_NAME[name]).events
    return [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


def test_each_change_to_the_workflows_commands_is_patched_and_older_histories_lack_it() -> None:
    """The safe-change example: `workflow.patched` marks new runs; old runs replay without it."""
    assert any(m == OVERRIDES_REACH_ESCALATION for m in _patch_markers("v2/crawl-override-go"))
    assert _patch_markers("v1/crawl-override-go-before-override-escalation") == []
    assert any(m == NOTIFICATIONS_IN_BACKGROUND for m in _patch_markers("v2/charter-expired-closed"))
    assert not any(m == NOTIFICATIONS_IN_BACKGROUND for m in _patch_markers("v1/charter-expired-closed"))
    # Today's histories carry only the latest patch: it implies every earlier one.
    assert _patch_markers("charter-expired-closed") == [ONE_RECORD_PER_STEP]
    assert not any(m == ONE_RECORD_PER_STEP for m in _patch_markers("v2/charter-expired-closed"))


def test_a_continued_run_does_not_ask_for_the_patch_again() -> None:
    """The choice travels in the continue-as-new input: a years-long partnership's runs stay marker-free."""
    assert _patch_markers("run-resumed-after-continue-as-new") == []
