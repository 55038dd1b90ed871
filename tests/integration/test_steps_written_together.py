"""Steps that queue for the SQLite writer are written together: one commit (one wait for the
disk) for all of them, each step whole, and a refusal or a give-up touches only its own step.

The writer's lock is held by the test while the steps queue, so which steps share a commit does
not depend on timing: every thread is known to be waiting before the lock is let go.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy

from partnerships.adapters.store import Store
from partnerships.domain.views import PartnershipSnapshot
from partnerships.engine.contracts import ActRecord, StepRecord
from partnerships.engine.ports import QueuedMessage, SlugTaken, StoreBusy

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def a_step(partnership_id: str, chain_id: str = "chain-1") -> StepRecord:
    """A signature's step: its act, and the partnership's row (which names the run chain it belongs to)."""
    act = ActRecord(
        nonce=f"nonce-{partnership_id}",
        update="sign_charter",
        actor="dana@ourco.example",
        door="cli",
        key_fingerprint="SHA256:abc",
        signed_at=NOW,
        accepted_at=NOW,
        request_json="{}",
        proof_json="{}",
    )
    snapshot = PartnershipSnapshot(
        id=partnership_id,
        slug=partnership_id.removeprefix("partnership-"),
        partner="Acme Analytics",
        tier=2,
        leverage="medium",
        phase="charter",
        step="awaiting-signatures",
        awaiting="both signatures",
        last_gate_outcome=None,
        rag=None,
        end_reason=None,
        started_at=NOW,
        phase_started_at=NOW,
        updated_at=NOW,
    )
    return StepRecord(partnership_id=partnership_id, chain_id=chain_id, acts=[act], snapshot=snapshot)


def a_message(partnership_id: str) -> QueuedMessage:
    return QueuedMessage(
        key=f"{partnership_id}:hello",
        partnership_id=partnership_id,
        kind="charter-ready",
        audience=["dana@ourco.example"],
        subject="hello",
        body="hello",
        notifier="console",
        created_at=NOW,
    )


class Writers:
    """Threads writing steps while the test holds the writer's lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.outcomes: dict[str, object] = {}
        self._threads: list[threading.Thread] = []

    def write(self, step: StepRecord, wait_at_most: float | None = None) -> None:
        def run() -> None:
            try:
                outbox = self.store.write_step(
                    step, [], [a_message(step.partnership_id)], wait_at_most=wait_at_most, claim_outbox=True
                )
                self.outcomes[step.partnership_id] = [(m.key, m.attempts) for m in outbox]
            except Exception as error:
                self.outcomes[step.partnership_id] = error

        thread = threading.Thread(target=run)
        self._threads.append(thread)
        thread.start()

    def until_waiting(self, count: int, at_most: bool = False) -> None:
        """Block until `count` steps (or, `at_most`, no more) wait in the queue: the threads get
        there on their own schedule."""
        waiting = self.store._writing_together
        assert waiting is not None
        # A bound for a broken queue only: the threads get there in milliseconds, however busy the machine.
        for _ in range(6000):
            if (len(waiting) <= count) if at_most else (len(waiting) >= count):
                return
            threading.Event().wait(0.01)
        raise AssertionError(f"{len(waiting)} of {count} steps queued for the writer after a minute")

    def until_taken(self) -> None:
        """Block until the writer has taken every queued step."""
        self.until_waiting(0, at_most=True)

    def finish_thread(self, index: int) -> None:
        self._threads[index].join()

    def finish(self) -> None:
        for thread in self._threads:
            thread.join()


@pytest.fixture
def writers(store: Store) -> Iterator[Writers]:
    yield Writers(store)


@pytest.fixture
def commits(store: Store) -> Callable[[], int]:
    counted: list[int] = []
    for engine in store.engines:
        sqlalchemy.event.listen(engine, "commit", lambda _connection: counted.append(1))
    return lambda: len(counted)


def test_steps_queued_behind_the_writer_are_written_in_one_commit(
    store: Store, writers: Writers, commits: Callable[[], int]
) -> None:
    ids = [f"partnership-{n}" for n in range(6)]
    store._writing.acquire()
    for partnership_id in ids:
        writers.write(a_step(partnership_id))
    writers.until_waiting(len(ids))
    store._writing.release()
    writers.finish()

    assert commits() == 1
    # Each caller hears of its own step's outbox, claimed once.
    assert writers.outcomes == {p: [(f"{p}:hello", 1)] for p in ids}
    for partnership_id in ids:
        assert [a.id for a in store.acts(partnership_id)] == [f"{partnership_id}:nonce-{partnership_id}"]
    assert len(store.notifications()) == len(ids)


def test_a_refused_step_in_a_group_is_refused_alone_and_the_others_are_written(store: Store, writers: Writers) -> None:
    # An earlier partnership holds this slug's workflow id: its next step is refused as SlugTaken.
    store.write_step(a_step("partnership-taken", chain_id="the-earlier-one"), [], [])
    store._writing.acquire()
    writers.write(a_step("partnership-a"))
    writers.write(a_step("partnership-taken", chain_id="a-later-one"))
    writers.write(a_step("partnership-b"))
    writers.until_waiting(3)
    store._writing.release()
    writers.finish()

    assert isinstance(writers.outcomes["partnership-taken"], SlugTaken)
    assert writers.outcomes["partnership-a"] == [("partnership-a:hello", 1)]
    assert writers.outcomes["partnership-b"] == [("partnership-b:hello", 1)]
    assert store.notifications("partnership-taken") == []
    # The earlier partnership's act and row stay as they were; the later one wrote nothing.
    assert [len(store.acts(p)) for p in ("partnership-a", "partnership-b", "partnership-taken")] == [1, 1, 1]
    taken = store.partnership("partnership-taken")
    assert taken is not None and taken.chain_id == "the-earlier-one"


def test_a_step_that_gives_up_waiting_leaves_nothing_behind(store: Store, writers: Writers) -> None:
    store._writing.acquire()
    writers.write(a_step("partnership-patient"))
    writers.write(a_step("partnership-hasty"), wait_at_most=0.05)
    writers.finish_thread(1)  # the hasty one returns by itself while the lock is still held
    assert isinstance(writers.outcomes["partnership-hasty"], StoreBusy)
    writers.until_waiting(1)
    store._writing.release()
    writers.finish()

    assert writers.outcomes["partnership-patient"] == [("partnership-patient:hello", 1)]
    assert store.acts("partnership-hasty") == [] and store.notifications("partnership-hasty") == []
    assert store._writing_together is not None and len(store._writing_together) == 0


def test_a_step_written_again_in_the_same_group_is_written_once(store: Store, writers: Writers) -> None:
    # A retried attempt can queue beside the one the worker gave up on: both hear of one record.
    store._writing.acquire()
    writers.write(a_step("partnership-twice"))
    writers.until_waiting(1)
    second = Writers(store)
    second.write(a_step("partnership-twice"))
    writers.until_waiting(2)
    store._writing.release()
    writers.finish()
    second.finish()

    assert len(store.acts("partnership-twice")) == 1
    assert [n.key for n in store.notifications("partnership-twice")] == ["partnership-twice:hello"]
    # Each attempt claims the outbox for its own delivery, in the order they queued (as one after the other would).
    assert writers.outcomes["partnership-twice"] == [("partnership-twice:hello", 1)]
    assert second.outcomes["partnership-twice"] == [("partnership-twice:hello", 2)]


def test_a_step_the_writer_took_gets_its_outcome_even_past_its_own_deadline(store: Store, writers: Writers) -> None:
    # It is being written: hearing "busy" now would have its caller try again beside it.
    commit_may_go = threading.Event()
    store._writing.acquire()
    writers.write(a_step("partnership-patient"))
    # Long enough for the writer to take it on a busy machine, short enough to run out while it is written.
    writers.write(a_step("partnership-hasty"), wait_at_most=5.0)
    writers.until_waiting(2)
    sqlalchemy.event.listen(store.engine, "commit", lambda _connection: commit_may_go.wait())
    store._writing.release()
    writers.until_taken()
    threading.Event().wait(6.0)  # the hasty step's five seconds are over while its commit waits
    commit_may_go.set()
    writers.finish()

    assert writers.outcomes == {
        "partnership-patient": [("partnership-patient:hello", 1)],
        "partnership-hasty": [("partnership-hasty:hello", 1)],
    }
    assert [len(store.acts(p)) for p in ("partnership-patient", "partnership-hasty")] == [1, 1]


def test_while_another_process_holds_the_file_each_step_of_the_group_hears_so_and_nothing_is_written(
    store: Store, writers: Writers
) -> None:
    database = store.engine.url.database
    assert database is not None
    other_process = sqlite3.connect(database, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # SQLite's write lock, as the CLI or a second worker would hold it
    store._writing.acquire()
    writers.write(a_step("partnership-a"), wait_at_most=1.0)
    writers.write(a_step("partnership-b"), wait_at_most=60.0)
    writers.until_waiting(2)
    store._writing.release()
    writers.finish()
    other_process.execute("ROLLBACK")
    other_process.close()

    assert all(isinstance(outcome, StoreBusy) for outcome in writers.outcomes.values()), writers.outcomes
    assert store.acts("partnership-a") == [] and store.acts("partnership-b") == []
    # The store is the writer's again: the next write lands, and the queue kept nothing.
    assert store.write_step(a_step("partnership-b"), [], [], wait_at_most=5.0) == []
    assert len(store.acts("partnership-b")) == 1
    assert store._writing_together is not None and len(store._writing_together) == 0
