"""The worker's health check against dependencies that do not answer, over real sockets."""

from __future__ import annotations

import socket

from sqlmodel import create_engine
from temporalio.client import Client

from partnerships.adapters.observability import WorkerHealth
from partnerships.adapters.store import Store


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_store_database_that_refuses_connections_is_named_without_its_password(client: Client) -> None:
    password = "not-a-real-password-0451"
    engine = create_engine(f"postgresql+psycopg://partnerships:{password}@127.0.0.1:{_closed_port()}/partnerships")
    try:
        problems = await WorkerHealth(client, "default", Store(engine)).problems()
    finally:
        engine.dispose()
    store = [p for p in problems if p.startswith("store: ")]
    assert len(store) == 1 and "OperationalError" in store[0], problems
    assert not any(p.startswith("temporal: ") for p in problems)
    assert password not in "\n".join(problems)


async def test_a_worker_that_has_not_started_polling_is_not_healthy_yet(client: Client, store: Store) -> None:
    health = WorkerHealth(client, "default", store)
    assert health.readiness() == "worker: starting, not polling yet"
    assert await health.problems() == ["worker: starting, not polling yet"]
