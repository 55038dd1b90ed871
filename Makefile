# Two commands on a fresh machine: `make demo` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
TEMPORAL_DB ?= .data/temporal.db

.PHONY: help demo test test-unit lint format server worker slack web temporal chromium bench histories charter-reference clean \
	cluster cluster-stop cluster-status test-cluster

help:
	@echo "make demo    - dev server + Web UI + worker, then one partnership through every phase (DEMO_EXIT=1 to stop at the end)"
	@echo "make test    - lint, type-check and the whole test suite on a real Temporal dev server"
	@echo "make test-unit - the unit tier alone: pure rules and replays, no server (seconds)"
	@echo "make server  - run the Temporal dev server (with Web UI on :8233) in the foreground"
	@echo "make worker  - run the worker in the foreground"
	@echo "make slack   - run the Slack app (Socket Mode or HTTP, see README)"
	@echo "make web     - serve the signing-link pages for people acting from their email"
	@echo "make bench   - measure the engine against Temporal's floor (python -m bench --quick for a smoke run)"
	@echo "make cluster - the production path here: PostgreSQL, Temporal server + Web UI on it, two workers (make cluster-stop)"
	@echo "make test-cluster - the workflow, CLI, crash and outage suites against that cluster"
	@echo "make charter-reference - regenerate charters/charter.schema.json and README's charter reference from the model"

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Built once per machine into ~/.cache/partnerships (the first build takes minutes).
temporal: $(INSTALLED)
	@$(PY) -m devtools.devserver path >/dev/null

demo: $(INSTALLED) temporal
	$(PY) -m partnerships.demo

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy partnerships workflows activities devtools bench worker.py
	$(VENV)/bin/lint-imports

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Headless Chromium for the Web UI browser test, from Debian (Playwright must not download one).
chromium:
	@command -v chromium >/dev/null || { echo "Installing Debian's chromium for the browser test..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(INSTALLED) temporal chromium lint
	$(PY) -m pytest

# Pure rules, views and recorded-history replays: no server, no store, no browser.
test-unit: $(INSTALLED)
	$(PY) -m pytest tests/unit

# The production path on this machine (README): PostgreSQL, the Temporal server on it (four services,
# SQL visibility), its Web UI and two workers, state in .data/cluster. Binaries built once per machine.
cluster: $(INSTALLED)
	$(PY) -m devtools.cluster start

cluster-stop: $(INSTALLED)
	$(PY) -m devtools.cluster stop

cluster-status: $(INSTALLED)
	@$(PY) -m devtools.cluster status

# What talks to Temporal, on the cluster instead of a dev server: the workflow, CLI, crash, outage and
# browser suites (store-only and pure tests add nothing there; `make test` runs them).
CLUSTER_TESTS := $(addprefix tests/integration/test_,charter_signing.py gate_decisions.py hostile_input.py \
	lifecycle_workflow.py portfolio.py slack_interactions.py task_ownership.py trustworthy_record.py \
	update_validation.py verified_acts.py) \
	$(addprefix tests/e2e/test_,cli.py demo.py email_links.py outages.py secrets.py web_ui.py worker_crashes.py \
	worker_start.py)

test-cluster: cluster chromium
	env $$($(PY) -m devtools.cluster test-env) $(PY) -m pytest $(CLUSTER_TESTS)

server: $(INSTALLED) temporal
	@mkdir -p $(dir $(TEMPORAL_DB))
	TEMPORAL_DB_FILE=$(TEMPORAL_DB) $(PY) -m devtools.devserver start

worker: $(INSTALLED)
	$(PY) worker.py

# The Slack app: Socket Mode with SLACK_APP_TOKEN, else HTTP on SLACK_PORT (see README).
slack: $(INSTALLED)
	$(PY) -m partnerships.slack_app

# The pages behind the signing links people get by email (README: Who can act, and how).
web: $(INSTALLED)
	$(PY) -m partnerships.web

# Engine vs Temporal's floor on this machine: own dev server and worker processes (~8 min on 2 cores).
bench: $(INSTALLED) temporal
	$(PY) -m bench

# The charter's JSON Schema and README table, from partnerships/domain/charter.py (a unit test fails on drift).
charter-reference: $(INSTALLED)
	$(PY) -m partnerships.adapters.charter_reference

histories: $(INSTALLED) temporal
	$(PY) -m tests.record_histories

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
