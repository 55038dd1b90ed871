"""Temporal's floor: a workflow with the lifecycle's shape and none of its logic.

It makes as many activity calls (regular and local), timers, Updates, search-attribute upserts and
continue-as-news as a real partnership (the counts come from a real lifecycle's history), and makes
as many Updates wait for a local activity in their workflow task, so the difference in cost
between the two is what the engine adds on top of Temporal.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from partnerships.engine.visibility import OVERDUE_TASKS, STEP

# The floor's activities are as quick to time out as the engine's: a fair retry behaviour.
ACTIVITY_TIMEOUT = timedelta(seconds=10)


class Stage(BaseModel):
    """One round of the driver: it waits for this stage, sends its Updates; the workflow then acts."""

    updates: int = Field(ge=0)
    activities: int = Field(ge=0)
    local_activities: int = Field(default=0, ge=0)
    # Of the stage's Updates, how many are answered by a workflow task that runs one of its local
    # activities (and so wait for it), as the engine answers an act once its record is written.
    answered_after_local_activity: int = Field(default=0, ge=0)
    # Search-attribute upserts besides the stage's marker, each in a workflow task of its own where
    # it can (an Update's, a fired timer's), as the engine shows each change of a partnership's status.
    upserts: int = Field(default=0, ge=0)
    # Started before the stage's Updates and cancelled after them: the engine's deadlines that people beat.
    cancelled_timers: int = Field(default=0, ge=0)
    # Waited out, one after the other: the engine's phase timers.
    timers: list[float] = Field(default_factory=list)


class SkeletonRun(BaseModel):
    stages: list[Stage]


class SkeletonInput(BaseModel):
    runs: list[SkeletonRun]
    run_index: int = 0


def stage_marker(run_index: int, stage_index: int) -> str:
    """The value of PartnershipStep while a skeleton waits in this stage (the driver polls it)."""
    return f"skeleton-{run_index}-{stage_index}"


@activity.defn
def do_nothing(stage: int) -> int:
    return stage


@workflow.defn
class SkeletonWorkflow:
    def __init__(self) -> None:
        self._received = 0
        self._answers_after_local_activity = 0
        self._upserts_left = 0
        self._upserted = 0

    @workflow.run
    async def run(self, plan: SkeletonInput) -> int:
        expected = 0
        for index, stage in enumerate(plan.runs[plan.run_index].stages):
            # The same signal to the driver as the engine's: a search attribute it can see with describe().
            workflow.upsert_search_attributes([STEP.value_set(stage_marker(plan.run_index, index))])
            expected += stage.updates
            answered_after = min(stage.answered_after_local_activity, stage.updates, stage.local_activities)
            self._answers_after_local_activity = answered_after
            self._upserts_left = stage.upserts
            # Deadlines set while waiting for people and cancelled when they act, as the engine's are.
            deadlines = [self._start_timer() for _ in range(stage.cancelled_timers)]
            await self._updates_received(expected)
            for deadline in deadlines:
                deadline.cancel()
            for _ in range(stage.activities):
                await workflow.execute_activity(do_nothing, index, start_to_close_timeout=ACTIVITY_TIMEOUT)
            for _ in range(stage.local_activities - answered_after):
                await _local_activity(index)
            for seconds in stage.timers:
                await workflow.sleep(timedelta(seconds=seconds))
                self._show_a_change()
            while self._upserts_left > 0:
                self._show_a_change()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if plan.run_index + 1 < len(plan.runs):
            workflow.continue_as_new(SkeletonInput(runs=plan.runs, run_index=plan.run_index + 1))
        return self._received

    @staticmethod
    def _start_timer() -> asyncio.Task[None]:
        return asyncio.create_task(workflow.sleep(timedelta(days=1)))

    async def _updates_received(self, count: int) -> None:
        await workflow.wait_condition(lambda: self._received >= count)

    def _show_a_change(self) -> None:
        if self._upserts_left > 0:
            self._upserts_left -= 1
            self._upserted += 1
            workflow.upsert_search_attributes([OVERDUE_TASKS.value_set(self._upserted)])

    @workflow.update
    async def step(self, number: int) -> int:
        self._received += 1
        received = self._received
        self._show_a_change()
        if self._answers_after_local_activity > 0:
            self._answers_after_local_activity -= 1
            await _local_activity(number)
        return received


async def _local_activity(argument: int) -> None:
    await workflow.execute_local_activity(do_nothing, argument, start_to_close_timeout=ACTIVITY_TIMEOUT)
