"""A deadline whose timer survives wake-ups (workflow code: no I/O, no clock but `workflow.now()`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

SHORTEST_TIMER = timedelta(milliseconds=1)


class Deadline:
    """Waits for the next deadline or for something to happen, whichever comes first.

    People act many times before one deadline (pilot results, task completions): the same
    timer keeps running across those wake-ups instead of being cancelled and started again
    each time, which would cost two history events per act. A deadline that is no longer
    waited for is cancelled.
    """

    def __init__(self) -> None:
        self._at: datetime | None = None
        self._timer: asyncio.Task[None] | None = None

    async def wait(self, at: datetime | None, woken: Callable[[], bool]) -> bool:
        """Wait until `woken()` or the deadline `at` (None: no deadline). True when woken."""
        if self._timer is not None and (at is None or self._at != at):
            self._timer.cancel()
            self._timer = None
        if at is None:
            await workflow.wait_condition(woken)
            return True
        if self._timer is None:
            # Always a timer, even for a moment already past: whether one is started must not depend
            # on the clock. A worker that takes a partnership over can run a task with the clock still
            # at the last local activity's time (seen in the two-worker kill test), where a replay
            # sees the task's real time; a timer on one and none on the other fails every replay.
            self._at = at
            self._timer = asyncio.create_task(workflow.sleep(max(at - workflow.now(), SHORTEST_TIMER)))
        timer = self._timer
        await workflow.wait_condition(lambda: woken() or timer.done())
        if timer.done():
            self._timer = None
        return woken()
