"""Fixtures only: one real Temporal dev server for the session, a fresh store per test.

Helpers that tests import live in `tests/helpers.py`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
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


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'partnerships.db'}",
        PARTNERSHIPS_TASK_QUEUE=f"test-{uuid.uuid4()}",
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    engine = make_engine(settings.store_url)
    yield Store(engine)
    engine.dispose()
