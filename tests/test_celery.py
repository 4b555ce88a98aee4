"""The compose file's `celery` profile, run on this machine: CeleryExecutor with the environment
the compose file gives airflow-scheduler and airflow-worker (.env with
AIRFLOW__CORE__EXECUTOR=CeleryExecutor, as docs/docker.md says), Debian's redis-server for the
`redis` service, and the worker service's own start script, which runs a real
`airflow celery worker`. A run triggered over the REST API succeeds with its tasks executed by
that worker."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.fixtures.airflow_stack import PROJECT_DIR, _clean_env, start_stack, stop_stack
from tests.fixtures.compose import (
    LocalAddresses,
    container_env,
    healthcheck_command,
    load_compose,
    local_process_env,
    make_env_file,
    read_env_file,
    run_until_healthy,
    stop_process_group,
)
from tests.fixtures.databases import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("redis-server") is None,
        reason="no redis-server (Debian package redis-server: `make system-deps`)",
    ),
]

CONF = {"gid": 3, "sid": 5, "date_start": "2024-06-01", "date_end": "2024-06-30"}
TASKS = ("pusher", "main_etl")


def _start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=(directory / "redis.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    deadline = time.monotonic() + 60
    while True:
        try:
            if client.ping():
                return process
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_celery_profile_runs_rest_trigger_on_a_worker() -> None:
    work = Path(tempfile.mkdtemp(prefix="rest-trigger-test-celery-"))
    env_file = make_env_file(work, AIRFLOW__CORE__EXECUTOR="CeleryExecutor", DEMO_ROWS="50000")
    dotenv = read_env_file(env_file)
    compose = load_compose(dotenv)
    services = compose["services"]
    pg_port, warehouse_port, redis_port, health_port = (free_port() for _ in range(4))
    local = LocalAddresses(
        hosts={
            "postgres": ("127.0.0.1", pg_port),
            "warehouse": ("127.0.0.1", warehouse_port),
            "redis": ("127.0.0.1", redis_port),
        },
        ports={8974: health_port},
        paths={"/opt/airflow/logs": work / "state" / "airflow" / "logs"},
    )
    scheduler_env = local.env(container_env(compose, "airflow-scheduler"))
    worker_env = local.env(container_env(compose, "airflow-worker"))
    assert scheduler_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker_env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://127.0.0.1:{redis_port}/0"
    ports = {
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    }
    state = work / "state"
    state.mkdir()
    (state / "secrets.json").write_text(
        json.dumps(
            {
                "fernet_key": dotenv["AIRFLOW__CORE__FERNET_KEY"],
                "webserver_secret_key": dotenv["AIRFLOW__WEBSERVER__SECRET_KEY"],
                "metadb_password": services["postgres"]["environment"]["POSTGRES_PASSWORD"],
            }
        )
    )
    redis_server = worker = stack = None
    worker_log = work / "worker.log"
    try:
        redis_server = _start_redis(redis_port, work)
        # airflow-webserver + airflow-scheduler with the celery profile's environment.
        stack = start_stack(
            state,
            LOCAL_PG_PORT=str(pg_port),
            WAREHOUSE_PORT=str(warehouse_port),
            AIRFLOW_ADMIN_USER=dotenv["AIRFLOW_ADMIN_USER"],
            AIRFLOW_ADMIN_PASSWORD=dotenv["AIRFLOW_ADMIN_PASSWORD"],
            REST_TRIGGER_AIRFLOW_ENV=json.dumps({**scheduler_env, **ports}),
        )
        assert "Loaded executor: CeleryExecutor" in (state / "logs" / "scheduler.log").read_text()

        # airflow-worker: the service's start script (executor check, then `celery worker`).
        env = local_process_env(
            _clean_env(), **worker_env, **ports, AIRFLOW_HOME=str(state / "airflow")
        )
        worker = subprocess.Popen(
            ["/bin/bash", *local.argv(services["airflow-worker"]["command"])],
            env=env, cwd=PROJECT_DIR, stdout=worker_log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        # Its healthcheck, as compose runs it: the worker answers a ping through the broker.
        check = run_until_healthy(
            local.argv(healthcheck_command(compose, "airflow-worker")),
            {**env, "HOSTNAME": socket.gethostname()},
        )
        assert check.returncode == 0, check.stdout + check.stderr + worker_log.read_text()
        assert "pong" in check.stdout

        response = stack.trigger("celery-1", CONF)
        assert response.status_code == 200, response.text
        run = stack.wait_for_run("celery-1", timeout=300)
        assert run["state"] == "success", worker_log.read_text(errors="replace")[-3000:]
        assert stack.xcom("celery-1", "main_etl")["dag_run_id"] == "celery-1"

        # Every task went through Celery to that worker.
        log = worker_log.read_text(errors="replace")
        for task_id in TASKS:
            assert re.search(
                rf"Executing command in Celery: \[.*'rest-trigger', '{task_id}', 'celery-1'", log
            ), f"{task_id} not executed by the worker:\n{log[-3000:]}"
            ti = stack.get(f"/dags/rest-trigger/dagRuns/celery-1/taskInstances/{task_id}").json()
            assert ti["state"] == "success"
            assert ti["queue"] == "default"  # the worker's queue (celery's default_queue)
    finally:
        stop_process_group(worker)
        leftovers = stop_stack(stack) if stack is not None else []
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(timeout=30)
    assert leftovers == []
    assert worker is not None and worker.returncode is not None
    shutil.rmtree(work, ignore_errors=True)  # kept only when the test failed
