# Every target creates .venv from the lock when it is missing, so each is the only command a
# fresh machine needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv venv-airflow3 system-deps run trigger test test-fast test-airflow3 lint format lock clean-state clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# --compile-bytecode: uv writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set (as
# on the shared 2-core machine) Python never writes them either: every Airflow process and every
# task then compiles Airflow, pandas, ... from source at each start (py-spy saw Airflow 3's task
# processes compiling pandas in the benchmark; `import pandas` took 3.3 CPU-s without .pyc, 1.0
# with them). Python reads .pyc files that exist even so.
$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv==$$(sed -n 's/^uv==//p' requirements-dev.lock)"
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements-dev.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

venv: $(STAMP) ## Create or update .venv from requirements-dev.lock

# The same project on Airflow 3 (issue 13): a second venv from requirements-airflow3.lock, built
# the same way (uv at the dev lock's pin), beside .venv; `make run AIRFLOW=3` runs with it.
VENV3 := .venv-airflow3
PY3 := $(VENV3)/bin/python
STAMP3 := $(VENV3)/.installed
$(STAMP3): requirements-airflow3.lock requirements-dev.lock pyproject.toml
	@test -x $(PY3) || $(PYTHON) -m venv $(VENV3)
	@$(PY3) -m pip install --quiet --disable-pip-version-check "uv==$$(sed -n 's/^uv==//p' requirements-dev.lock)"
	$(VENV3)/bin/uv pip sync --quiet --compile-bytecode --python $(PY3) requirements-airflow3.lock
	$(VENV3)/bin/uv pip install --quiet --python $(PY3) --no-deps -e .
	@touch $@

venv-airflow3: $(STAMP3) ## Create or update .venv-airflow3 (Airflow 3) from requirements-airflow3.lock

# AIRFLOW=3 runs the same launcher with .venv-airflow3's Airflow 3 (it detects the version).
AIRFLOW ?= 2
ifeq ($(AIRFLOW),3)
RUN_STAMP := $(STAMP3)
RUN_PY := $(PY3)
else
RUN_STAMP := $(STAMP)
RUN_PY := $(PY)
endif
run: $(RUN_STAMP) ## Run Airflow + embedded PostgreSQL/warehouse locally (no Docker) [AIRFLOW=3]; Ctrl-C stops it
	$(RUN_PY) -m rest_trigger_local

# The trigger client (rest_trigger_client) against `make run`'s Airflow, or the one AIRFLOW_URL
# names (AIRFLOW_USERNAME / AIRFLOW_PASSWORD from the environment). Waits for the run unless
# WAIT=0; RUN_ID reuses a run id (a used one is attached to), TIMEOUT stops waiting after that
# many seconds, UNPAUSE=1 unpauses a paused DAG. make reports the client's exit code as
# "Error N"; `.venv/bin/rest-trigger --help` lists them.
AIRFLOW_URL ?= http://$(or $(AIRFLOW_HOST),127.0.0.1):$(or $(AIRFLOW_PORT),8080)
WAIT ?= 1
trigger: $(STAMP) ## Trigger rest-trigger and wait: GID= SID= START= END= [RUN_ID= TIMEOUT= WAIT=0]
	@if [ -z "$(GID)" ] || [ -z "$(SID)" ] || [ -z "$(START)" ] || [ -z "$(END)" ]; then \
	  echo "usage: make trigger GID=42 SID=7 START=2024-01-01 END=2024-03-31" \
	    "[RUN_ID=id] [TIMEOUT=seconds] [WAIT=0] [UNPAUSE=1]"; exit 2; fi
	$(VENV)/bin/rest-trigger --url "$(AIRFLOW_URL)" \
	  --gid "$(GID)" --sid "$(SID)" --start "$(START)" --end "$(END)" \
	  $(if $(RUN_ID),--run-id "$(RUN_ID)") $(if $(filter-out 0 no false,$(WAIT)),--wait) \
	  $(if $(TIMEOUT),--timeout "$(TIMEOUT)") $(if $(filter-out 0 no false,$(UNPAUSE)),--unpause)

# Debian packages some tests drive: Chromium (UI review), docker-compose (compose file
# validation), redis-server (celery profile). Installed when this is root on Debian; elsewhere
# the tests that need them say they were skipped and why.
SYSTEM_PACKAGES := chromium docker-compose redis-server
system-deps: ## Install the Debian packages the browser, compose and celery tests use (as root)
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "system packages present:$(SYSTEM_PACKAGES)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "not installing$$missing (needs root and apt-get); tests that need them will be skipped"; fi

# .env for `docker compose` (docs/docker.md), which is optional: .env.example with your uid on
# Linux (50000 when root). The secrets are not in it: airflow-init generates them into a volume.
# Written owner-only (it is where overrides such as a real Redshift's password go). Never
# overwrites; ENV_FILE=path writes elsewhere.
ENV_FILE ?= .env
.PHONY: docker-env
docker-env: ## Create an (optional) .env for docker compose from .env.example, with your uid
	@if [ -e "$(ENV_FILE)" ]; then echo "$(ENV_FILE) exists; not overwriting it"; exit 0; fi; \
	uid=$$(id -u) && if [ "$$uid" = 0 ]; then uid=50000; fi && \
	umask 077 && sed -e "s|^AIRFLOW_UID=.*|AIRFLOW_UID=$$uid|" .env.example > "$(ENV_FILE)" && \
	echo "wrote $(ENV_FILE); next: docker compose up -d --wait"

# Docker (docs/docker.md): an engine where none answers, stand-ins for the upstream images where
# no registry answers, and the compose test. docker/engine.sh stops only an engine it started.
.PHONY: docker-engine docker-engine-stop offline-images test-compose
docker-engine: ## Start a Docker engine + Compose v2 if none answers (root, Debian/Ubuntu; honours DOCKER_HOST)
	docker/engine.sh start

docker-engine-stop: ## Stop the engine `make docker-engine` started (nothing else)
	docker/engine.sh stop

offline-images: ## Build local stand-ins for the upstream images (docker/offline/; no registry needed)
	docker/offline/build.sh

test-compose: $(STAMP) ## docker compose up for real: docs steps, REST flow, celery, stop, the Airflow 3 variant, worker hosts (engine started if needed)
	@owned=0; docker/engine.sh owned && owned=1; \
	docker/engine.sh start; rc=0; \
	$(PY) -m pytest -m compose -p no:cacheprovider -s tests/compose/test_compose_stack.py \
	  tests/compose/test_compose_stack_airflow3.py tests/compose/test_compose_worker_host.py || rc=$$?; \
	if [ "$$owned" = 0 ]; then docker/engine.sh stop; fi; exit $$rc

test: $(STAMP) system-deps ## All tests: integrity, unit, integration (real PostgreSQL) and end-to-end (real Airflow)
	$(PY) -m pytest

# The schemathesis property test of the REST API (tests/e2e/test_api_schema.py) with more fuzzing
# examples per operation than `make test` runs (15; the coverage phase runs in both);
# SCHEMA_EXAMPLES=n to choose, SCHEMA_SEED=n for another seed (20 by default).
SCHEMA_EXAMPLES ?= 200
.PHONY: test-api-fuzz
test-api-fuzz: $(STAMP) ## The OpenAPI property test of the REST API, larger [SCHEMA_EXAMPLES=200]
	SCHEMA_EXAMPLES=$(SCHEMA_EXAMPLES) $(PY) -m pytest tests/e2e/test_api_schema.py

test-fast: $(STAMP) ## The tests that need no server (DAG integrity, unit, SQL safety)
	$(PY) -m pytest -m "not integration and not e2e and not compose and not airflow3"

# The tests marked airflow3 against one stack on Airflow 3.3.2 (tests/client, tests/e2e): pytest
# runs from .venv, the stack from .venv-airflow3 (Stack.start(airflow=3)); tests/dropin runs a
# stock `airflow standalone` from .venv-airflow3 with only the product folders copied in.
test-airflow3: $(STAMP) $(STAMP3) ## Airflow 3: the client (token, renewal, exit codes), the stack end to end, 2<->3 switch, drop-in on stock 3.3.2
	$(PY) -m pytest -m airflow3 -p no:cacheprovider -s

lint: $(STAMP) ## ruff check (with the AIR rules) and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatter
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: ## Re-resolve requirements.lock, requirements-dev.lock and requirements-airflow3.lock from the pinned inputs
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(PY) -m pip install --quiet uv; }
	$(UV) pip compile --quiet requirements.txt -o requirements.lock --python-version 3.11 --python-platform linux
	$(UV) pip compile --quiet requirements-dev.txt -c requirements.lock -o requirements-dev.lock --python-version 3.11 --python-platform linux
	$(UV) pip compile --quiet requirements-airflow3.txt -o requirements-airflow3.lock --python-version 3.11 --python-platform linux

# The benchmark (bench/, docs/benchmarks.md): starts its own stacks on free ports, prints a
# markdown table, writes bench/results/latest.json. The full run waits for a quiet machine and
# takes ~15 min; `make bench-quick` is a small check (bench/results/quick.json). A section that
# fails fails the command. `.venv/bin/python -m bench --help` lists the knobs.
BENCH_ARGS ?=
.PHONY: bench bench-quick
bench: $(STAMP) $(STAMP3) ## Latency (as callers see it), burst, floor, parse and query scale vs stock Airflow [BENCH_ARGS=...]
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: $(STAMP) $(STAMP3) ## The benchmark with small counts (a check that it works, not figures): bench --quick
	$(PY) -m bench --quick $(BENCH_ARGS)

# The task processes' profile (docs/benchmarks.md): py-spy on the scheduler and everything it
# forks during sequential runs, or a burst with --burst N (AIRFLOW=3: and the api-server, its
# routes); prints samples by kind of process and the top functions. py-spy runs from .venv.
PROFILE_ARGS ?=
.PHONY: profile
profile: $(STAMP) $(RUN_STAMP) ## Profile the task processes with py-spy during runs [AIRFLOW=3] [PROFILE_ARGS="--runs 20" or "--burst 100"]
	$(PY) -m bench.profile --airflow $(AIRFLOW) $(PROFILE_ARGS)

clean-state: ## Delete the local state (.local/: databases, logs, generated secrets)
	rm -rf .local

clean: clean-state ## Delete the local state, .venv and .venv-airflow3
	rm -rf $(VENV) $(VENV3)
