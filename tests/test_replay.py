"""Recorded histories replay against today's workflow code: a change that breaks determinism fails CI.

Record new histories with `make histories` (it reruns the workflow tests with
RECORD_HISTORIES=1 and writes tests/histories/*.json); commit them with the change
that made them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from partnerships.contracts import PartnershipOutcome, StartPartnership
from workflows import PartnershipWorkflow
from workflows.partnership import OVERRIDES_REACH_ESCALATION

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
HISTORIES_BY_NAME = {p.stem: p for p in HISTORIES}


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


def test_there_are_recorded_histories_for_every_path() -> None:
    assert set(HISTORIES_BY_NAME) >= {
        "signing-through-first-qbr",
        "run-resumed-after-continue-as-new",
        "crawl-no-go-exit-closed",
        "walk-fail-restart-crawl",
        "walk-no-go-exit",
        "crawl-override-go",
        "crawl-override-go-before-override-escalation",
        "review-decided-by-policy",
        "charter-expired-closed",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
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


def test_the_override_escalation_change_is_patched_and_older_histories_lack_it() -> None:
    """The safe-change example: `workflow.patched` marks new runs; old runs replay without it."""

    def patch_markers(name: str) -> list[str]:
        events = _history(HISTORIES_BY_NAME[name]).events
        return [
            e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data.decode()
            for e in events
            if e.HasField("marker_recorded_event_attributes")
        ]

    assert any(OVERRIDES_REACH_ESCALATION in m for m in patch_markers("crawl-override-go"))
    assert patch_markers("crawl-override-go-before-override-escalation") == []
