"""Shared fixtures: one real Temporal dev server for the session, a fresh store per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devtools.devserver import temporal_binary
from partnerships.adapters.charter_file import load_charter
from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.store import Store, make_engine
from partnerships.domain.charter import Charter
from partnerships.engine.converter import DATA_CONVERTER
from partnerships.engine.visibility import ALL_KEYS

EXAMPLE_CHARTER = REPO_ROOT / "charters" / "acme-analytics.yaml"


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


def example_charter(**changes: object) -> Charter:
    """The Acme example with a unique slug and phases as short as the framework allows."""
    charter = load_charter(EXAMPLE_CHARTER)
    data = charter.model_dump(mode="json")
    data["slug"] = f"acme-{uuid.uuid4().hex[:10]}"
    data["timeline"]["crawl"]["weeks"] = 4
    data["timeline"]["walk"]["weeks"] = 8
    data["governance"]["review_window_days"] = 30
    data["signing"] = {"remind_every_days": 10, "escalate_after_days": 30, "expire_after_days": 60}
    for dotted, value in changes.items():
        target = data
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return Charter.model_validate(data)
