"""docker-compose cannot run here (no Docker engine); check it is wired to the same code,
and that it deploys what `make cluster` runs and tests (devtools/cluster.py, devtools/builds.py)."""

from __future__ import annotations

import re

import yaml

from devtools import cluster
from devtools.builds import TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION
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


def _image(service: str) -> tuple[str, str]:
    name, tag = SERVICES[service]["image"].rsplit(":", 1)
    return name, tag


def test_compose_runs_the_server_admin_tools_and_web_ui_versions_make_cluster_builds_and_tests() -> None:
    assert _image("temporal") == ("temporalio/server", TEMPORAL_SERVER_VERSION)
    assert _image("temporal-schema") == ("temporalio/admin-tools", TEMPORAL_SERVER_VERSION)
    assert _image("register-search-attributes") == ("temporalio/admin-tools", TEMPORAL_SERVER_VERSION)
    assert _image("temporal-ui") == ("temporalio/ui", TEMPORAL_UI_VERSION)
    assert "auto-setup" not in (REPO_ROOT / "docker-compose.yml").read_text()


def test_the_server_and_the_web_ui_get_the_settings_the_cluster_runs_with() -> None:
    server = SERVICES["temporal"]["environment"]
    assert {name: server.get(name) for name in cluster.SERVER_SETTINGS} == cluster.SERVER_SETTINGS
    ui = SERVICES["temporal-ui"]["environment"]
    assert {name: ui.get(name) for name in cluster.UI_SETTINGS} == cluster.UI_SETTINGS
    # The same dynamic config file, mounted where the server is told to read it.
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in SERVICES["temporal"]["volumes"]}
    folder, file = server["DYNAMIC_CONFIG_FILE_PATH"].rsplit("/", 1)
    assert (REPO_ROOT / mounted[folder] / file).resolve() == cluster.DYNAMIC_CONFIG


def test_temporal_schemas_are_set_up_by_the_sql_tool_as_the_cluster_sets_them_up() -> None:
    command = " ".join(SERVICES["temporal-schema"]["command"])
    for database, schema in cluster.SCHEMAS.items():
        assert f"{database}={schema}" in command
    assert "setup-schema -v 0.0" in command and "update-schema --schema-name" in command
    assert SERVICES["temporal-schema"]["environment"]["SQL_PLUGIN"] == cluster.SERVER_SETTINGS["DB"]
    assert SERVICES["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"


def test_two_workers_each_checked_on_its_health_endpoint() -> None:
    worker = SERVICES["worker"]
    assert worker["deploy"]["replicas"] == len(cluster.WORKER_METRICS_PORTS) == 2
    port = worker["environment"]["PARTNERSHIPS_METRICS_PORT"]
    assert f"http://localhost:{port}/healthz" in " ".join(worker["healthcheck"]["test"])
