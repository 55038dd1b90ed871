"""A real worker process that kills itself (SIGKILL) in the middle of chosen activities.

    CRASH_POINTS="TaskRow:walk-1:invite,NotificationRow:review-1:opened" \
    CRASH_MARKERS=/tmp/markers python -m tests.e2e.crash_worker

Each point is `<row type>:<substring of the row's key>`; the process dies right after
that row is committed (with the rest of its step), before the activity can report completion, once per point
(a marker file remembers it fired). Temporal then retries the activity on the next
worker, which must not write or send anything twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event
from sqlmodel import Session, SQLModel

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store, make_engine
from partnerships.adapters.temporal_client import make_client
from worker import build_worker


class CrashingStore(Store):
    def __init__(self, url: str, points: list[str], markers: Path) -> None:
        super().__init__(make_engine(url))
        self._points = points
        self._markers = markers

    def _maybe_crash(self, row: SQLModel) -> None:
        key = str(row.__mapper__.primary_key_from_instance(row)[0])  # type: ignore[attr-defined]
        for point in self._points:
            kind, _, fragment = point.partition(":")
            marker = self._markers / point.replace(":", "_").replace("/", "_")
            if type(row).__name__ == kind and fragment in key and not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)

    @contextmanager
    def writing(self, wait_at_most: float | None = None, *, durable: bool = True) -> Iterator[Session]:
        # A step's rows are committed together: die after the commit, once per matching row.
        written: list[SQLModel] = []
        with super().writing(wait_at_most, durable=durable) as session:
            event.listen(session, "before_flush", lambda s, _context, _instances: written.extend([*s.new, *s.dirty]))
            yield session
        for row in written:
            self._maybe_crash(row)


async def main() -> None:
    settings = Settings()
    points = [p for p in os.environ.get("CRASH_POINTS", "").split(",") if p]
    markers = Path(os.environ["CRASH_MARKERS"])
    markers.mkdir(parents=True, exist_ok=True)
    client = await make_client(settings)
    # A dead worker's sticky queue is abandoned after this long: recovery in a second, not ten.
    worker = build_worker(
        client, settings, store=CrashingStore(settings.store_url, points, markers), sticky_timeout=timedelta(seconds=1)
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        print("worker ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
