# Every target creates .venv from the lock when it is missing, so each is the only command a
# fresh machine needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast lint format lock clean-state clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv==$$(sed -n 's/^uv==//p' requirements-dev.lock)"
	$(UV) pip sync --quiet --python $(PY) requirements-dev.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

venv: $(STAMP) ## Create or update .venv from requirements-dev.lock

run: $(STAMP) ## Run Airflow + embedded PostgreSQL/warehouse locally (no Docker); Ctrl-C stops it
	$(PY) -m rest_trigger_local

test: $(STAMP) ## All tests: integrity, unit, integration (real PostgreSQL) and end-to-end (real Airflow)
	$(PY) -m pytest

test-fast: $(STAMP) ## The tests that need no server (DAG integrity, unit, SQL safety)
	$(PY) -m pytest -m "not integration and not e2e"

lint: $(STAMP) ## ruff check (with the AIR rules) and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatter
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: ## Re-resolve requirements.lock and requirements-dev.lock from the pinned inputs
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(PY) -m pip install --quiet uv; }
	$(UV) pip compile --quiet requirements.txt -o requirements.lock --python-version 3.11 --python-platform linux
	$(UV) pip compile --quiet requirements-dev.txt -c requirements.lock -o requirements-dev.lock --python-version 3.11 --python-platform linux

clean-state: ## Delete the local state (.local/: databases, logs, generated secrets)
	rm -rf .local

clean: clean-state ## Delete the local state and .venv
	rm -rf $(VENV)
