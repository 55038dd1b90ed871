"""docker-compose cannot run here (no Docker engine); check it is wired to the same code."""

from __future__ import annotations

import re

import yaml

from devtools.devserver import search_attribute_flags
from partnerships.adapters.config import REPO_ROOT
from partnerships.engine.visibility import ALL_KEYS

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_the_worker_points_at_the_compose_temporal_and_postgres_store() -> None:
    environment = SERVICES["worker"]["environment"]
    host, port = environment["TEMPORAL_ADDRESS"].split(":")
    assert host == "temporal" and port in {p.split(":")[-1] for p in SERVICES["temporal"]["ports"]}
    url = re.match(r"postgresql\+psycopg://(\w+):.*@(\w+):5432/(\w+)$", environment["DATABASE_URL"])
    assert url is not None
    user, db_host, database = url.groups()
    store = SERVICES[db_host]["environment"]
    assert (store["POSTGRES_USER"], store["POSTGRES_DB"]) == (user, database)


def test_compose_registers_exactly_the_search_attributes_the_workflow_upserts() -> None:
    command = " ".join(SERVICES["register-search-attributes"]["command"])
    registered = {f"{name}={kind}" for name, kind in re.findall(r"(\w+)=(Keyword|Int|Datetime|Double)\b", command)}
    # The dev server's flags come from partnerships/visibility.py, the single list of attributes.
    assert registered == set(search_attribute_flags()[1::2])
    assert len(registered) == len(ALL_KEYS)


def test_no_secret_is_written_into_the_compose_file() -> None:
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|PWD|TOKEN|SECRET|API_KEY)\b.*:", line) and "${" not in line:
            raise AssertionError(f"a secret-looking setting without ${{...}} from the environment: {line.strip()}")
    assert ":?set POSTGRES_PASSWORD" in text and ":?set STORE_PASSWORD" in text
