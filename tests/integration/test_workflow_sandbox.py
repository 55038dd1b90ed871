"""The worker's sandbox still stops workflow code that would not replay the same."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from partnerships.engine.converter import DATA_CONVERTER
from worker import WORKFLOW_RUNNER


@workflow.defn(name="ReadsTheClock")
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now(UTC).isoformat()  # not workflow.now(): differs on every replay


async def test_workflow_code_reading_the_clock_fails_its_task_on_the_workers_sandbox(client: Client) -> None:
    client = Client(client.service_client, namespace=client.namespace, data_converter=DATA_CONVERTER)
    task_queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[ReadsTheClock], workflow_runner=WORKFLOW_RUNNER):
        handle = await client.start_workflow(
            ReadsTheClock.run, id=f"reads-the-clock-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        try:
            failure = None
            for _ in range(600):  # the first task fails as soon as the worker runs it
                async for event in handle.fetch_history_events():
                    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                        failure = event.workflow_task_failed_event_attributes.failure.message
                if failure is not None:
                    break
                await asyncio.sleep(0.1)
        finally:
            await handle.terminate("test over")
    assert failure is not None, "the workflow task that read the clock did not fail"
    assert "Cannot access datetime.datetime.now" in failure
