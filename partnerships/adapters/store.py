"""The engine's own store: a read model of every partnership and its full decision record.

sqlmodel tables are adapters: they never cross into workflows. Every write is
keyed by an id the workflow derived deterministically, so an activity that is
retried (or a worker that crashed after committing) writes nothing twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, event, func, insert, inspect, make_url, text, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from partnerships.domain.lifecycle import GateReview
from partnerships.domain.views import PartnershipSnapshot
from partnerships.engine.contracts import ActRecord, CloseTasksInput, StepRecord
from partnerships.engine.ports import Delivered, NewTask, QueuedMessage, RecordRefused, SlugTaken, StoreBusy


class PartnershipRow(SQLModel, table=True):
    __tablename__ = "partnerships"

    id: str = Field(primary_key=True)
    slug: str = Field(index=True)
    partner: str
    tier: int
    leverage: str
    phase: str = Field(index=True)
    step: str
    awaiting: str
    last_gate_outcome: str | None = None
    rag: str | None = None
    end_reason: str | None = None
    started_at: datetime
    phase_started_at: datetime
    updated_at: datetime
    # Evidence an exit cut short before its review opened.
    evidence_json: str | None = None
    # The run that started this partnership: a slug used again later is a different chain.
    chain_id: str | None = None
    # "" in real time, the rehearsal's time scale otherwise; NULL in rows an older release wrote.
    rehearsal: str | None = None
    next_deadline: str | None = None
    next_deadline_at: datetime | None = None


class GateReviewRow(SQLModel, table=True):
    __tablename__ = "gate_reviews"

    id: str = Field(primary_key=True)
    partnership_id: str = Field(index=True)
    gate: str
    label: str
    opened_at: datetime
    evidence_json: str
    evaluation_json: str
    recommendation: str
    outcome: str | None = None
    decided_by: str | None = None
    decided_by_name: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None
    by_policy: bool = False
    overrides_failing_gate: bool = False
    # The whole review (votes, conditions, what it was judged against): `what-if` judges it again.
    review_json: str | None = None


class TaskRow(SQLModel, table=True):
    __tablename__ = "tasks"

    id: str = Field(primary_key=True)
    partnership_id: str = Field(index=True)
    kind: str
    title: str
    description: str
    owner: str
    status: str = Field(default="open", index=True)
    created_at: datetime
    due_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None


class NotificationRow(SQLModel, table=True):
    __tablename__ = "notifications"

    key: str = Field(primary_key=True)
    partnership_id: str = Field(index=True)
    kind: str
    audience: str
    subject: str
    body: str
    notifier: str
    status: str = Field(default="pending")
    attempts: int = 0
    created_at: datetime
    delivered_at: datetime | None = None
    delivery_ref: str | None = None
    # The facts the message was rendered from, for notifiers that lay it out themselves
    # (Slack's blocks): delivery may happen later, from the outbox alone.
    context_json: str | None = None


class ActRow(SQLModel, table=True):
    """Each accepted act with its proof: the store's copy of what `partnerships audit` checks."""

    __tablename__ = "acts"

    id: str = Field(primary_key=True)  # <partnership id>:<nonce>: an act is kept once
    partnership_id: str = Field(index=True)
    nonce: str
    update: str
    actor: str
    door: str
    key_fingerprint: str
    signed_at: datetime
    accepted_at: datetime
    request_json: str
    proof_json: str


# The tables behind the row models, for the statements on a step's write path.
PARTNERSHIPS: Table = PartnershipRow.__table__  # type: ignore[attr-defined]
GATE_REVIEWS: Table = GateReviewRow.__table__  # type: ignore[attr-defined]
TASKS: Table = TaskRow.__table__  # type: ignore[attr-defined]
NOTIFICATIONS: Table = NotificationRow.__table__  # type: ignore[attr-defined]
ACTS: Table = ActRow.__table__  # type: ignore[attr-defined]

# How long a writer waits for SQLite's lock when its caller set no deadline.
SQLITE_PATIENCE = 30.0
# Connections a PostgreSQL store keeps open: a worker's activity threads (8) and its health check
# each keep one. With SQLAlchemy's default 5, the busy threads' extra connections were opened and
# closed for every write, a new server process each time (seen in the cluster bench).
POSTGRES_POOL_SIZE = 10
# Where a SQLite connection notes the busy timeout its last writer set.
_SQLITE_BUSY_TIMEOUT = "partnerships.busy_timeout"
# PostgreSQL advisory lock held while the schema is created or brought up to date (any fixed number).
SCHEMA_LOCK = 7_341_205_118


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = _sqlite_engine(url)
    elif make_url(url).get_backend_name() == "postgresql":
        # Time columns an older release made hold no time zone; PostgreSQL converts into them in
        # the session's zone, which is the server's unless we say: UTC, as every row means it.
        given = make_url(url).query.get("options")
        options = " ".join([*([given] if isinstance(given, str) else given or []), "-c timezone=UTC"])
        engine = create_engine(url, pool_pre_ping=True, pool_size=POSTGRES_POOL_SIZE, connect_args={"options": options})
    else:
        engine = create_engine(url, pool_pre_ping=True)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Workers starting together on a new database would each create the same tables
            # (one then fails on PostgreSQL's catalog): one at a time, until this transaction ends.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        SQLModel.metadata.create_all(connection)
        _add_missing_columns(connection)
    return engine


def _sqlite_engine(url: str, *, durable: bool = True) -> Engine:
    """Connections to a SQLite file whose commits wait for the disk, or (not `durable`) do not."""
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_PATIENCE})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the CLI read while the worker writes.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_PATIENCE * 1000)}")
        cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        cursor.close()

    return engine


def _add_missing_columns(connection: Connection) -> None:
    """Bring a store made by an older release up to date.

    Columns are only ever added, and nullable, so this is the whole migration story so far.
    """
    inspector = inspect(connection)
    for table in SQLModel.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                assert column.nullable, f"{table.name}.{column.name}: a new column must be nullable"
                kind = column.type.compile(dialect=connection.dialect)
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


class StoreVanished(RuntimeError):
    """The SQLite file the store opened was deleted or replaced: writing on would write into nothing."""


class StoreUnreachable(RuntimeError):
    """The store's database did not answer (the first line of what the driver said)."""


@dataclass(frozen=True)
class Backlog:
    """What operators watch in the store: messages not delivered yet, and reviews nobody decided yet."""

    pending_messages: int
    oldest_pending_at: datetime | None
    open_reviews: int


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # A SQLite store is its file: remember which one, so a deleted or swapped file is noticed.
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._file = Path(database) if database and database != ":memory:" else None
        self._identity = self._file_identity()
        # SQLite takes one writer at a time and makes the others sleep and retry: with many
        # activity threads that backoff, not the writing, is what a step waits for. Writers
        # in this process queue on a lock instead. Other databases lock rows themselves.
        self._writing = threading.Lock() if engine.dialect.name == "sqlite" else _NoLock()
        # Steps waiting for that lock, written together by whichever gets it (see `write_step`).
        self._writing_together = _StepQueue() if engine.dialect.name == "sqlite" else None
        # Writes that need not wait for the disk go through connections made that way, so no
        # connection is switched back and forth (a statement more, each time, under the lock).
        self._not_durable = (
            _sqlite_engine(engine.url.render_as_string(hide_password=False), durable=False)
            if self._file is not None
            else None
        )

    @property
    def engines(self) -> list[Engine]:
        """Every engine this store writes through (a SQLite file has two: see `writing`)."""
        return [self.engine] if self._not_durable is None else [self.engine, self._not_durable]

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def _file_identity(self) -> tuple[int, int] | None:
        if self._file is None:
            return None
        try:
            status = self._file.stat()
        except FileNotFoundError:
            return None
        return status.st_dev, status.st_ino

    def check(self) -> None:
        """Raise `StoreVanished` when the SQLite file is no longer the one this store opened."""
        if self._file is not None and self._file_identity() != self._identity:
            raise StoreVanished(
                f"the store's file {self._file} was deleted or replaced while the worker ran; "
                "restart the worker once the right file is back"
            )

    @contextmanager
    def writing(self, wait_at_most: float | None = None, *, durable: bool = True) -> Iterator[Session]:
        """A session for a write transaction: commit inside, keep it short (no network calls).

        With `wait_at_most`, a store another writer keeps locked longer than that many seconds
        raises `StoreBusy` instead: a caller with a deadline gives up in time, and no thread
        stays blocked on a store that is out of reach.

        Not `durable`: the commit does not wait for the disk (SQLite's WAL synchronous=NORMAL,
        PostgreSQL's synchronous_commit off). Still atomic and in order; only a power loss or an
        operating system crash can take it back, with the commits after it. For writes whose loss
        the engine recovers from by itself, and only those.
        """
        self.check()
        patience = _patience(wait_at_most)
        if not self._writing.acquire(timeout=patience):
            raise StoreBusy(f"another writer in this process held the store for {patience:.1f} s")
        try:
            with self._transaction(patience, durable) as session:
                yield session
        finally:
            self._writing.release()

    @contextmanager
    def _transaction(self, patience: float, durable: bool) -> Iterator[Session]:
        """A write transaction, for a caller that holds the writer's lock."""
        quick = self._not_durable is not None and not durable
        with Session(self._not_durable if quick else self.engine, expire_on_commit=False) as session:
            self._begin(session, patience, durable)
            try:
                yield session
            except OperationalError as error:
                if not _is_lock_timeout(error):
                    raise
                raise StoreBusy(f"the store stayed locked for {patience:.1f} s: {_first_line(error)}") from None

    def _begin(self, session: Session, patience: float, durable: bool) -> None:
        """How long this transaction waits for another writer's lock; on PostgreSQL, whether it waits for the disk."""
        milliseconds = max(int(patience * 1000), 1)
        connection = session.connection()
        if self.engine.dialect.name == "sqlite":
            # A pooled connection keeps what its last writer chose (noted in its `info`): set
            # when that differs. SQLite takes it only outside a transaction, which the driver
            # opens at the first change. An activity's patience is what is left of its deadline,
            # different at every call: rounded down to a coarse step (never more than it has), so
            # a connection keeps its setting from one step to the next.
            coarse = 5000 if milliseconds >= 10_000 else 1000 if milliseconds >= 1000 else 1
            milliseconds -= milliseconds % coarse
            if connection.info.get(_SQLITE_BUSY_TIMEOUT) != milliseconds:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={milliseconds}")
                connection.info[_SQLITE_BUSY_TIMEOUT] = milliseconds
        elif self.engine.dialect.name == "postgresql":
            # Only for this transaction: the pooled connection keeps its own settings.
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
            if not durable:
                connection.exec_driver_sql("SET LOCAL synchronous_commit = off")

    def upsert(self, row: SQLModel) -> None:
        """Write the row as given; writing the same row again changes nothing."""
        with self.writing() as session:
            session.merge(row)
            session.commit()

    def insert_once(self, row: SQLModel) -> bool:
        """Insert unless a row with the same key exists. True when this call inserted it."""
        with self.writing() as session:
            key = row.__mapper__.primary_key_from_instance(row)  # type: ignore[attr-defined]
            if session.get(type(row), key[0]) is not None:
                return False
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                # Another attempt of the same activity won the race: same row, nothing to do.
                session.rollback()
                return False
            return True

    # ------------------------------------------------------- the engine's writes

    def write_step(
        self,
        step: StepRecord,
        tasks: list[NewTask],
        messages: list[QueuedMessage],
        wait_at_most: float | None = None,
        claim_outbox: bool = False,
    ) -> list[QueuedMessage]:
        """A step is in the store whole or not at all, the outbox's claim for delivery included.

        On SQLite, steps that queue for the writer meanwhile are written by whichever of them
        gets it, in one transaction: one wait for the disk for all of them, where each used to
        wait for its own (under a burst, and most of all while the disk stalls, those waits were
        the tail of every Update's latency). Every step is as durable as before when its call
        returns. PostgreSQL commits concurrent transactions together by itself.
        """
        # The rows are made before the lock is taken: the lock is held for the writing alone.
        rows = _StepRows.of(step, tasks, messages, claim_outbox)
        if self._writing_together is None:
            return self._write_alone(rows, _patience(wait_at_most))
        return self._write_together(rows, wait_at_most)

    def _write_together(self, rows: _StepRows, wait_at_most: float | None) -> list[QueuedMessage]:
        self.check()
        patience = _patience(wait_at_most)
        gives_up_at = time.monotonic() + patience
        queue = self._writing_together
        assert queue is not None
        while True:
            # A ticket per attempt: whatever a writer does with an earlier one cannot touch this one.
            ticket = _Ticket(rows, gives_up_at, patience)
            queue.join(ticket)
            if queue.wait_for_turn(ticket):
                self._write_queued(queue, ticket)
            else:
                ticket.settled.wait()  # settled already, or taken by the writer, who settles it
            outbox = ticket.outcome()
            if outbox is not None:
                return outbox
            # Handed back unwritten (the writer that took it was interrupted): it tries again.

    def _write_queued(self, queue: _StepQueue, mine: _Ticket) -> None:
        """As the queue's writer: take the writer's lock, then every step queued by then, and write them."""
        group: list[_Ticket] = []
        try:
            if self._writing.acquire(timeout=mine.time_left()):
                try:
                    group = queue.take()
                    self._write_group(group)
                finally:
                    self._writing.release()
            else:
                queue.leave(mine)  # nobody took it: only the writer takes, and that is this thread
                mine.settle(error=mine.busy_in_process())
        finally:
            for ticket in group:
                if not ticket.settled.is_set():  # this writer was interrupted: nobody waits forever
                    ticket.settle(handed_back=True)
            queue.done_writing()

    def _write_group(self, group: list[_Ticket]) -> None:
        """The group in one transaction; what went wrong settled step by step."""
        patience = min(t.time_left() for t in group)  # no caller waits past its deadline
        try:
            with self._transaction(patience, durable=True) as session:
                connection = session.connection()
                outboxes = [_write_step_rows(connection, ticket.rows) for ticket in group]
                session.commit()
        except StoreBusy:
            # Another process kept the file locked: every step here would have waited for it in
            # turn. Each caller hears so (an activity tries again later) rather than waiting on.
            for ticket in group:
                ticket.settle(error=StoreBusy(f"another process held the store's file for {patience:.1f} s"))
            return
        except Exception:
            # Maybe one step's own fault (a slug taken, a value the database refuses, the same step
            # written by another worker at that moment): each alone, so each caller hears of its own.
            for ticket in group:
                try:
                    ticket.settle(outbox=self._write_alone(ticket.rows, ticket.time_left(), locked=True))
                except Exception as error:
                    ticket.settle(error=error)
            return
        for ticket, outbox in zip(group, outboxes, strict=True):
            ticket.settle(outbox=outbox)

    def _write_alone(self, rows: _StepRows, patience: float, *, locked: bool = False) -> list[QueuedMessage]:
        """One step in its own transaction (`locked`: the caller holds the writer's lock)."""
        try:
            return self._one_transaction(rows, patience, locked)
        except IntegrityError:
            # Another attempt of the same step may have committed between our look and our
            # insert (two workers): the second look finds its rows and skips them.
            try:
                return self._one_transaction(rows, patience, locked)
            except IntegrityError as error:
                raise _refusal(error) from None
        except DataError as error:
            raise _refusal(error) from None

    def _one_transaction(self, rows: _StepRows, patience: float, locked: bool) -> list[QueuedMessage]:
        if locked:
            with self._transaction(patience, durable=True) as session:
                return _commit_step(session, rows)
        with self.writing(patience) as session:
            return _commit_step(session, rows)

    def pending_message_keys(self, partnership_id: str) -> list[str]:
        """The partnership's messages still in the outbox, oldest first."""
        with self.session() as session:
            return list(session.exec(_undelivered(partnership_id, NotificationRow.key)))

    def begin_delivery(self, key: str) -> QueuedMessage | None:
        """Count the attempt before the notifier is called: a retry can tell an earlier one may have posted."""
        with self.writing() as session:
            row = session.get(NotificationRow, key)
            assert row is not None, f"notification {key} is not in the outbox"
            if row.status == "delivered":
                return None
            row.attempts += 1
            session.add(row)
            session.commit()
            return _queued(row)

    def begin_deliveries(self, partnership_id: str) -> list[QueuedMessage]:
        """`begin_delivery` for each of the partnership's undelivered messages, oldest first, in one commit."""
        # Most steps leave nothing to deliver: they find that out without queueing for the writer.
        if not self.pending_message_keys(partnership_id):
            return []
        with self.writing() as session:
            rows = session.exec(_undelivered(partnership_id)).all()
            for row in rows:
                row.attempts += 1
                session.add(row)
            session.commit()
            return [_queued(row) for row in rows]

    def finish_delivery(self, key: str, reference: str, at: datetime) -> None:
        self.finish_deliveries([Delivered(key, reference, at)])

    def finish_deliveries(self, delivered: Sequence[Delivered], untried: Sequence[str] = ()) -> None:
        """Mark what went out delivered, and take back the attempt counted for each message that was
        never tried (an earlier one failed), in one commit."""
        if not delivered and not untried:
            return
        # Not durable: losing this commit (a power loss) leaves the messages undelivered with their
        # attempt counted, so the outbox sends them again flagged "may have posted": the Slack
        # notifier looks for its earlier post first, an email goes under the same Message-ID.
        with self.writing(durable=False) as session:
            connection = session.connection()
            if delivered:
                connection.execute(
                    _MARK_DELIVERED, [{"done_key": d.key, "done_ref": d.reference, "done_at": d.at} for d in delivered]
                )
            if untried:
                connection.execute(
                    update(NOTIFICATIONS)
                    .where(
                        NOTIFICATIONS.c.key.in_(list(untried)),
                        NOTIFICATIONS.c.status != "delivered",
                        NOTIFICATIONS.c.attempts > 0,
                    )
                    .values(attempts=NOTIFICATIONS.c.attempts - 1)
                )
            session.commit()

    def settle_rebuilt_outbox(self, partnership_id: str, at: datetime) -> int:
        """After a rebuild: the partnership's messages count as delivered, so nothing goes out twice."""
        with self.writing() as session:
            rows = session.exec(
                select(NotificationRow).where(
                    NotificationRow.partnership_id == partnership_id, NotificationRow.status != "delivered"
                )
            ).all()
            for row in rows:
                row.status, row.delivery_ref, row.delivered_at = "delivered", "rebuilt: not sent again", at
                session.add(row)
            session.commit()
            return len(rows)

    # ------------------------------------------------------------ reads

    def probe(self) -> None:
        """Raise `StoreVanished` or `StoreUnreachable` when the store cannot be used now (a health check)."""
        self.check()
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as error:
            raise StoreUnreachable(_first_line(error)) from None

    def backlog(self) -> Backlog:
        with self.session() as session:
            pending, oldest = session.exec(
                select(func.count(), func.min(NotificationRow.created_at)).where(NotificationRow.status != "delivered")
            ).one()
            open_reviews = session.exec(
                select(func.count()).select_from(GateReviewRow).where(col(GateReviewRow.outcome).is_(None))
            ).one()
        return Backlog(pending_messages=pending, oldest_pending_at=oldest, open_reviews=open_reviews)

    def partnerships(self, phase: str | None = None) -> list[PartnershipRow]:
        with self.session() as session:
            query = select(PartnershipRow).order_by(col(PartnershipRow.slug))
            if phase:
                query = query.where(PartnershipRow.phase == phase)
            return list(session.exec(query))

    def tasks(self, partnership_id: str | None = None, status: str | None = "open") -> list[TaskRow]:
        with self.session() as session:
            query = select(TaskRow).order_by(col(TaskRow.partnership_id), col(TaskRow.created_at), col(TaskRow.id))
            if partnership_id:
                query = query.where(TaskRow.partnership_id == partnership_id)
            if status:
                query = query.where(TaskRow.status == status)
            return list(session.exec(query))

    def reviews(self, partnership_id: str) -> list[GateReviewRow]:
        with self.session() as session:
            query = (
                select(GateReviewRow)
                .where(GateReviewRow.partnership_id == partnership_id)
                .order_by(col(GateReviewRow.opened_at))
            )
            return list(session.exec(query))

    def notifications(self, partnership_id: str | None = None) -> list[NotificationRow]:
        with self.session() as session:
            query = select(NotificationRow).order_by(col(NotificationRow.created_at), col(NotificationRow.key))
            if partnership_id:
                query = query.where(NotificationRow.partnership_id == partnership_id)
            return list(session.exec(query))

    def acts(self, partnership_id: str) -> list[ActRow]:
        """The partnership's accepted acts with their proofs, in the order they were accepted."""
        with self.session() as session:
            query = (
                select(ActRow)
                .where(ActRow.partnership_id == partnership_id)
                .order_by(col(ActRow.accepted_at), col(ActRow.signed_at))
            )
            return list(session.exec(query))

    def notification(self, key: str) -> NotificationRow | None:
        with self.session() as session:
            return session.get(NotificationRow, key)

    def partnership(self, workflow_id: str) -> PartnershipRow | None:
        with self.session() as session:
            return session.get(PartnershipRow, workflow_id)

    def task(self, task_id: str) -> TaskRow | None:
        with self.session() as session:
            return session.get(TaskRow, task_id)


def partnership_values(snapshot: PartnershipSnapshot, chain_id: str) -> dict[str, Any]:
    return {
        **snapshot.model_dump(exclude={"evidence"}),
        "evidence_json": dumps(snapshot.evidence),
        "chain_id": chain_id,
    }


def gate_review_values(partnership_id: str, review: GateReview) -> dict[str, Any]:
    decision = review.decision
    return {
        "id": review.id,
        "partnership_id": partnership_id,
        "gate": review.gate.value,
        "label": review.label,
        "opened_at": review.opened_at,
        "evidence_json": dumps(review.evidence),
        "evaluation_json": review.evaluation.model_dump_json(),
        "recommendation": review.evaluation.recommendation.value,
        "outcome": decision.outcome.value if decision else None,
        "decided_by": decision.decided_by if decision else None,
        "decided_by_name": decision.decided_by_name if decision else None,
        "reason": decision.reason if decision else None,
        "decided_at": decision.decided_at if decision else None,
        "by_policy": decision.by_policy if decision else False,
        "overrides_failing_gate": decision.overrides_failing_gate if decision else False,
        "review_json": review.model_dump_json(),
    }


def task_values(task: NewTask) -> dict[str, Any]:
    return {
        "id": task.ref.id,
        "partnership_id": task.partnership_id,
        "kind": task.ref.kind.value,
        "title": task.ref.title,
        "description": task.description,
        "owner": task.ref.owner,
        "status": "open",
        "created_at": task.created_at,
        "due_at": task.ref.due_at,
        "closed_at": None,
        "closed_by": None,
    }


def act_values(partnership_id: str, act: ActRecord) -> dict[str, Any]:
    # An act is kept once: its id is the partnership's and the proof's nonce.
    return {"id": f"{partnership_id}:{act.nonce}", "partnership_id": partnership_id, **act.model_dump()}


def _write_rows(connection: Connection, table: Table, rows: list[dict[str, Any]], *, replace: bool = False) -> None:
    """Insert the rows whose key is not in the table yet, in one statement; with `replace`, write
    over the others (the review decided since, the snapshot that moved on), else keep them."""
    if not rows:
        return
    [key] = table.primary_key.columns
    if _upsert(connection.dialect.name) is not None:
        # One statement, not a look then a write: a step's statements are what the SQLite writer
        # holds the store for, each one a wait for the GIL on a busy worker.
        connection.execute(_upsert_statement(connection.dialect.name, table, tuple(rows[0]) if replace else None), rows)
        return
    known = set(connection.execute(select(key).where(key.in_([row[key.name] for row in rows]))).scalars())
    fresh = [row for row in rows if row[key.name] not in known]
    if fresh:
        connection.execute(insert(table), fresh)
    if replace:
        for row in rows:
            if row[key.name] in known:
                connection.execute(update(table).where(key == row[key.name]), row)


@lru_cache(maxsize=64)
def _upsert_statement(dialect: str, table: Table, replacing: tuple[str, ...] | None) -> Any:
    """The table's INSERT ... ON CONFLICT: keeping the row there (`replacing` None), or writing the
    named columns over it. Made once: building a statement cost more than running it."""
    upsert = _upsert(dialect)
    assert upsert is not None
    [key] = table.primary_key.columns
    statement = upsert(table)
    if replacing is None:
        return statement.on_conflict_do_nothing(index_elements=[key])
    columns = [name for name in replacing if name != key.name]
    return statement.on_conflict_do_update(
        index_elements=[key], set_={name: statement.excluded[name] for name in columns}
    )


def _upsert(dialect: str) -> Callable[[Table], Any] | None:
    """INSERT ... ON CONFLICT, where the database has it (both spell it the same in SQLAlchemy).

    Imported when a step is first written: every CLI command imports this module, and
    PostgreSQL's dialect alone takes ~50 ms to import."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    return None


def _undelivered(partnership_id: str, what: Any = NotificationRow) -> Any:
    """The partnership's outbox rows (or `what` of them) not delivered yet, oldest first: the order they go out in."""
    return select(what).where(*_UNDELIVERED).order_by(*_OLDEST_FIRST).params(partnership_id=partnership_id)


def _queued(row: Any) -> QueuedMessage:
    return QueuedMessage(
        key=row.key,
        partnership_id=row.partnership_id,
        kind=row.kind,
        audience=row.audience.split(", ") if row.audience else [],
        subject=row.subject,
        body=row.body,
        notifier=row.notifier,
        created_at=row.created_at,
        context=loads(row.context_json) if row.context_json else {},
        attempts=row.attempts,
    )


def notification_values(message: QueuedMessage) -> dict[str, Any]:
    return {
        "key": message.key,
        "partnership_id": message.partnership_id,
        "kind": message.kind,
        "audience": ", ".join(message.audience),
        "subject": message.subject,
        "body": message.body,
        "notifier": message.notifier,
        "status": "pending",
        "attempts": 0,
        "created_at": message.created_at,
        "delivered_at": None,
        "delivery_ref": None,
        "context_json": dumps(message.context),
    }


def _close_tasks(connection: Connection, closure: CloseTasksInput) -> None:
    """Close the open ones among the named tasks; a task already closed keeps how it was closed."""
    if closure.task_ids:
        connection.execute(
            _CLOSE_OPEN_TASKS,
            {"id_in": closure.task_ids, "status": closure.status, "closed_at": closure.at, "closed_by": closure.by},
        )


# The statements on a step's path, made once (building one costs about what running it does;
# sqlalchemy's select: sqlmodel's takes models, not tables):
# the partnership a workflow id names, its outbox oldest first, the outbox claimed for delivery,
# a delivery marked, tasks closed. A list of keys is bound as `<key column>_in`.
# A partnership's outbox: what is not delivered yet (bound: `partnership_id`), in the order it goes out.
_UNDELIVERED = (NOTIFICATIONS.c.partnership_id == bindparam("partnership_id"), NOTIFICATIONS.c.status != "delivered")
_OLDEST_FIRST = (NOTIFICATIONS.c.created_at, NOTIFICATIONS.c.key)
_PARTNERSHIP_CHAIN = core_select(PARTNERSHIPS.c.slug, PARTNERSHIPS.c.started_at, PARTNERSHIPS.c.chain_id).where(
    PARTNERSHIPS.c.id == bindparam("partnership_id")
)
_OUTBOX = core_select(NOTIFICATIONS).where(*_UNDELIVERED).order_by(*_OLDEST_FIRST)
_CLAIM_FOR_DELIVERY = (
    update(NOTIFICATIONS)
    .where(NOTIFICATIONS.c.key.in_(bindparam("key_in", expanding=True)))
    .values(attempts=NOTIFICATIONS.c.attempts + 1)
)
_MARK_DELIVERED = (
    update(NOTIFICATIONS)
    .where(NOTIFICATIONS.c.key == bindparam("done_key"))
    .values(status="delivered", delivery_ref=bindparam("done_ref"), delivered_at=bindparam("done_at"))
)
_CLOSE_OPEN_TASKS = (
    update(TASKS)
    .where(TASKS.c.id.in_(bindparam("id_in", expanding=True)), TASKS.c.status == "open")
    .values(status=bindparam("status"), closed_at=bindparam("closed_at"), closed_by=bindparam("closed_by"))
)


def _patience(wait_at_most: float | None) -> float:
    return SQLITE_PATIENCE if wait_at_most is None else max(wait_at_most, 0.0)


def _refusal(error: IntegrityError | DataError) -> RecordRefused:
    """What the caller of `write_step` hears of a step the database refused."""
    return RecordRefused(_first_line(error))


@dataclass(frozen=True)
class _StepRows:
    """A step's rows, ready to write."""

    partnership_id: str
    chain_id: str
    snapshot: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    closures: list[CloseTasksInput]
    tasks: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    acts: list[dict[str, Any]]
    claim_outbox: bool

    @classmethod
    def of(cls, step: StepRecord, tasks: list[NewTask], messages: list[QueuedMessage], claim_outbox: bool) -> _StepRows:
        # Statements, not ORM objects: a step is written on every Update's path, and the ORM's
        # unit of work cost more than the writing (the writer's lock is held meanwhile).
        return cls(
            partnership_id=step.partnership_id,
            chain_id=step.chain_id,
            snapshot=[partnership_values(step.snapshot, step.chain_id)] if step.snapshot is not None else [],
            reviews=[gate_review_values(step.partnership_id, r) for r in step.reviews],
            closures=step.closed_tasks,
            tasks=[task_values(t) for t in tasks],
            messages=[notification_values(m) for m in messages],
            acts=[act_values(step.partnership_id, act) for act in step.acts],
            claim_outbox=claim_outbox,
        )


class _Ticket:
    """One attempt to have a step written by the queue's writer, and what became of it."""

    def __init__(self, rows: _StepRows, gives_up_at: float, patience: float) -> None:
        self.rows = rows
        self.gives_up_at = gives_up_at
        self.patience = patience
        self.settled = threading.Event()
        self._outbox: list[QueuedMessage] | None = None
        self._error: Exception | None = None

    def time_left(self) -> float:
        return max(self.gives_up_at - time.monotonic(), 0.0)

    def settle(
        self, *, outbox: list[QueuedMessage] | None = None, error: Exception | None = None, handed_back: bool = False
    ) -> None:
        assert (outbox is not None) + (error is not None) + handed_back == 1 and not self.settled.is_set()
        self._outbox, self._error = outbox, error
        self.settled.set()

    def busy_in_process(self) -> StoreBusy:
        return StoreBusy(f"another writer in this process held the store for {self.patience:.1f} s")

    def outcome(self) -> list[QueuedMessage] | None:
        """The step's outbox once written; raises what refused it; None when handed back unwritten."""
        if self._error is not None:
            raise self._error
        return self._outbox


class _StepQueue:
    """Steps waiting for the SQLite writer, oldest first, and whether one of their threads is writing.

    A waiting thread wakes when its step is settled or when nobody is writing (it then writes
    the queue), never to find only that its step was written long ago."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._writer_busy = False

    def join(self, ticket: _Ticket) -> None:
        with self._changed:
            self._waiting.append(ticket)

    def wait_for_turn(self, ticket: _Ticket) -> bool:
        """True when this thread is now the writer. False when the ticket is settled, or taken by
        the writer (who settles it), or settled here with StoreBusy because its time ran out first."""
        with self._changed:
            self._changed.wait_for(lambda: ticket.settled.is_set() or not self._writer_busy, timeout=ticket.time_left())
            if ticket.settled.is_set():
                return False
            if not self._writer_busy:
                self._writer_busy = True
                return True
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                ticket.settle(error=ticket.busy_in_process())
            return False

    def leave(self, ticket: _Ticket) -> None:
        with self._changed:
            self._waiting.remove(ticket)

    def take(self) -> list[_Ticket]:
        with self._changed:
            taken, self._waiting = self._waiting, []
            return taken

    def done_writing(self) -> None:
        with self._changed:
            self._writer_busy = False
            self._changed.notify_all()

    def __len__(self) -> int:
        with self._changed:
            return len(self._waiting)


def _commit_step(session: Session, rows: _StepRows) -> list[QueuedMessage]:
    outbox = _write_step_rows(session.connection(), rows)
    session.commit()
    return outbox


def _write_step_rows(connection: Connection, rows: _StepRows) -> list[QueuedMessage]:
    """A step's statements in the caller's transaction; returns the partnership's outbox (claimed if asked)."""
    existing = connection.execute(_PARTNERSHIP_CHAIN, {"partnership_id": rows.partnership_id}).first()
    if existing is not None and existing.chain_id not in (None, rows.chain_id):
        raise SlugTaken(
            f"the store already holds an earlier partnership '{existing.slug}' with workflow id "
            f"{rows.partnership_id} (started {existing.started_at:%Y-%m-%d}); a slug names one partnership "
            "for good: start this one under a new slug"
        )
    _write_rows(connection, PARTNERSHIPS, rows.snapshot, replace=True)
    _write_rows(connection, GATE_REVIEWS, rows.reviews, replace=True)
    for closure in rows.closures:
        _close_tasks(connection, closure)
    # Rows an earlier attempt of this step wrote are kept as they are (a message may be out).
    _write_rows(connection, TASKS, rows.tasks)
    _write_rows(connection, NOTIFICATIONS, rows.messages)
    _write_rows(connection, ACTS, rows.acts)
    outbox = [_queued(row) for row in connection.execute(_OUTBOX, {"partnership_id": rows.partnership_id})]
    if rows.claim_outbox and outbox:
        connection.execute(_CLAIM_FOR_DELIVERY, {"key_in": [m.key for m in outbox]})
        for message in outbox:
            message.attempts += 1
    return outbox


def _is_lock_timeout(error: OperationalError) -> bool:
    # SQLite: "database is locked"; PostgreSQL: lock_not_available (SQLSTATE 55P03).
    return "database is locked" in str(error.orig) or getattr(error.orig, "sqlstate", None) == "55P03"


class _NoLock:
    """Other databases lock rows themselves: writers in this process need not queue."""

    def acquire(self, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        pass


def _first_line(error: Exception) -> str:
    """What the database said, without the SQL and parameters (they may hold people's text)."""
    original = getattr(error, "orig", None) or error
    return f"{type(original).__name__}: {str(original).splitlines()[0][:300]}"


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def loads(value: str) -> Any:
    return json.loads(value)
