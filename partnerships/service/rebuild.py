"""Rebuild the store's read model from Temporal, the record of record.

Every run of every partnership (running ones, and closed ones still within the
namespace's retention) is replayed with Temporal's `Replayer`; each step the workflow
asked to record is captured as it is scheduled and written again through the same
code the worker uses. Writes are idempotent by key, so a rebuild run twice changes
nothing. Messages found in the rebuilt outbox are marked delivered ("rebuilt: not
sent again"): the partnership's people already had them, or they are moot now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartLocalActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from activities import StepRecorder
from partnerships.adapters.store import Store
from partnerships.domain.vocabulary import WORKFLOW_TYPE
from partnerships.engine.contracts import ActivityName, StepRecord
from partnerships.engine.converter import DATA_CONVERTER
from partnerships.engine.notifier import OutgoingMessage
from partnerships.engine.ports import RecordRefused, SlugTaken
from workflows import PartnershipWorkflow


@dataclass
class Rebuilt:
    """What a rebuild did, for the person who ran it."""

    partnerships: set[str] = field(default_factory=set)
    runs: int = 0
    steps: int = 0
    settled_messages: int = 0
    problems: list[str] = field(default_factory=list)


class _CapturedSteps(Interceptor):
    """Collects the steps a replayed workflow asks to record (replay runs no activity)."""

    def __init__(self) -> None:
        self.steps: list[StepRecord] = []

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        steps = self.steps

        class Outbound(WorkflowOutboundInterceptor):
            def start_local_activity(self, input: StartLocalActivityInput) -> Any:
                if input.activity == ActivityName.RECORD_STEP and input.args:
                    steps.append(input.args[0])
                return super().start_local_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


class NothingSent:
    """The notifier of a rebuild: messages are written to the outbox, never sent."""

    name = "rebuilt"

    def deliver(self, message: OutgoingMessage) -> str:
        raise RuntimeError(f"a rebuild sends nothing ({message.key})")


async def rebuild(client: Client, store: Store, recorder: StepRecorder, only: str | None = None) -> Rebuilt:
    """Write every partnership's record again from its workflow histories (`only`: one workflow id)."""
    result = Rebuilt()
    query = f"WorkflowType = '{WORKFLOW_TYPE}'"
    if only is not None:
        query += f" AND WorkflowId = '{only}'"
    runs = [run async for run in client.list_workflows(query)]
    for run in sorted(runs, key=lambda r: (r.id, r.start_time)):
        history = await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
        captured = _CapturedSteps()
        replayer = Replayer(
            workflows=[PartnershipWorkflow],
            interceptors=[captured],
            data_converter=DATA_CONVERTER,
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        replay = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if replay.replay_failure is not None:
            result.problems.append(f"{run.id} (run {run.run_id}): could not be replayed: {replay.replay_failure}")
            continue
        result.runs += 1
        try:
            for step in captured.steps:
                recorder.write(step)
                result.steps += 1
        except (RecordRefused, SlugTaken) as error:
            result.problems.append(f"{run.id}: {error}")
            continue
        result.partnerships.add(run.id)
    for partnership_id in sorted(result.partnerships):
        result.settled_messages += store.settle_rebuilt_outbox(partnership_id, datetime.now(UTC))
    return result
