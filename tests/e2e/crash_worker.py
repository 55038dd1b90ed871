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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from partnerships.adapters.config import Settings
from partnerships.adapters.store import (
    ActRow,
    GateReviewRow,
    NotificationRow,
    PartnershipRow,
    Store,
    TaskRow,
    make_engine,
)
from partnerships.adapters.temporal_client import make_client
from worker import build_worker

# The store's tables by name, to tell which row type a statement writes.
ROW_TYPES = {
    model.__tablename__: model.__name__ for model in (PartnershipRow, GateReviewRow, TaskRow, NotificationRow, ActRow)
}


class CrashingStore(Store):
    def __init__(self, url: str, points: list[str], markers: Path) -> None:
        super().__init__(make_engine(url))
        self._points = points
        self._markers = markers
        # The rows the current thread's write transaction wrote, by statement or by the ORM.
        self._written = threading.local()
        event.listen(self.engine, "before_execute", self._note_statement)

    def _note_statement(self, _connection: Any, statement: Any, multiparams: Any, params: Any, _options: Any) -> None:
        written = getattr(self._written, "rows", None)
        table: Any = getattr(statement, "table", None)
        if written is None or table is None or table.name not in ROW_TYPES:
            return
        [key] = table.primary_key.columns
        rows = [*(multiparams if isinstance(multiparams, list | tuple) else [multiparams]), params]
        keys = [
            values[key.name]
            for row in rows
            for values in (row if isinstance(row, list | tuple) else [row])
            if isinstance(values, dict) and key.name in values
        ]
        # Rows an UPDATE picks by key (`key IN (...)`: the outbox claimed, tasks closed), as the
        # ORM's dirty rows were: a step tried again claims the messages its first attempt wrote.
        # In the statement, or bound when it runs (the store's prebuilt ones: `<key>_in`).
        for name, value in statement.compile().params.items():
            if name == key.name or name.startswith(f"{key.name}_"):
                keys += value if isinstance(value, list | tuple) else [value]
        for values in rows:
            if isinstance(values, dict):
                keys += [
                    one
                    for name, bound in values.items()
                    if name.startswith(f"{key.name}_") and isinstance(bound, list | tuple)
                    for one in bound
                ]
        written += [(ROW_TYPES[table.name], str(one)) for one in keys if one is not None]

    def _note_flush(self, session: Session, _context: Any, _instances: Any) -> None:
        for row in [*session.new, *session.dirty]:
            key = row.__mapper__.primary_key_from_instance(row)[0]
            self._written.rows.append((type(row).__name__, str(key)))

    def _maybe_crash(self, kind: str, key: str) -> None:
        for point in self._points:
            wanted, _, fragment = point.partition(":")
            marker = self._markers / point.replace(":", "_").replace("/", "_")
            if kind == wanted and fragment in key and not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)

    @contextmanager
    def _transaction(self, patience: float, durable: bool) -> Iterator[Session]:
        # Every write transaction of the store (a step's, or the steps queued with it) comes
        # through here: die after its commit, once per matching row.
        written: list[tuple[str, str]] = []
        self._written.rows = written
        try:
            with super()._transaction(patience, durable) as session:
                event.listen(session, "before_flush", self._note_flush)
                yield session
        finally:
            self._written.rows = None
        for kind, key in written:
            self._maybe_crash(kind, key)


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
