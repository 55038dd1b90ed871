"""Fixtures only: one real Temporal dev server for the session, a fresh store per test.

A store is SQLite unless a test is marked `every_store`: then it runs once on SQLite and
once on PostgreSQL (one server for the session, a fresh database per test).
Helpers that tests import live in `tests/helpers.py`."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devtools.devserver import temporal_binary
from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store, make_engine
from partnerships.engine.converter import DATA_CONVERTER
from partnerships.engine.visibility import ALL_KEYS
from tests.helpers import CLUSTER_ADDRESS, STORES, PostgresStores, StartedWorkflows, postgres_missing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "every_store: run the test on each store the engine supports (SQLite and PostgreSQL)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    chosen = any("store_kind" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize"))
    if metafunc.definition.get_closest_marker("every_store") and "store_kind" in metafunc.fixturenames and not chosen:
        metafunc.parametrize("store_kind", STORES, indirect=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of the session's own; under `make test-cluster`, the cluster (which outlives it)."""
    if CLUSTER_ADDRESS is not None:
        started = StartedWorkflows()
        client = await Client.connect(CLUSTER_ADDRESS, data_converter=DATA_CONVERTER, interceptors=[started])
        try:
            yield WorkflowEnvironment.from_client(client)
        finally:
            await started.terminate_running(client)
        return
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=ALL_KEYS,
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=["--headless"],
    )
    try:
        yield environment
    finally:
        await environment.shutdown()


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresStores]:
    """One PostgreSQL server for the session; without PostgreSQL the tests that need it fail, never skip."""
    missing = postgres_missing()
    if missing is not None:
        pytest.fail(f"the store's PostgreSQL tests cannot run: {missing}", pytrace=False)
    # Under /tmp, not pytest's tmp_path: the server runs as the `postgres` user, who must reach it.
    folder = Path(tempfile.mkdtemp(prefix="partnerships-pg-"))
    stores = PostgresStores.start(folder)
    try:
        yield stores
    finally:
        stores.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """SQLite unless the test is marked `every_store` (which runs it on each kind)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def new_store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Makes fresh, empty stores of the test's kind, by name (a second one for a rebuild, say)."""

    def new(name: str) -> str:
        if store_kind == "postgresql":
            stores: PostgresStores = request.getfixturevalue("postgres")
            return stores.new_database()
        return f"sqlite:///{tmp_path / f'{name}.db'}"

    return new


@pytest.fixture
def store_url(new_store_url: Callable[[str], str]) -> str:
    """A fresh, empty store of the test's kind."""
    return new_store_url("partnerships")


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(DATABASE_URL=store_url, PARTNERSHIPS_TASK_QUEUE=f"test-{uuid.uuid4()}")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    engine = make_engine(settings.store_url)
    yield Store(engine)
    engine.dispose()
