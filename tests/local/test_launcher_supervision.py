"""`make run` supervises what it started. A scheduler SIGKILLed with runs in flight (as the OOM
killer would) is restarted, and every run ends in success with one result row, without anyone
touching the stack; a killed webserver comes back too; only past the restart cap does the
launcher stop everything and exit non-zero.

As root, the stack is started the way a fresh machine starts it: a run-as user that does not
exist yet and a private (0700) state folder."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from rest_trigger_client.errors import Unreachable
from rest_trigger_etl.names import DAG_ID, DEMO_CONF
from rest_trigger_local.ports import port_is_free
from tests.support.airflow_stack import start_stack, stop_stack
from tests.support.harness import alive, pg_data_dir

pytestmark = pytest.mark.e2e

CONF = DEMO_CONF
RUNS = f"/dags/{DAG_ID}/dagRuns"
IN_FLIGHT = 6


def pid_of(stack, name: str) -> int:
    entry = json.loads((stack.state_dir / "processes.json").read_text())[name]
    return entry["pid"] if isinstance(entry, dict) else entry


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.5)


def api_answers(stack) -> bool:
    try:
        return stack.get(f"/dags/{DAG_ID}").status_code == 200
    except Unreachable:
        return False


def result_rows(stack, run_ids: list[str]) -> dict[str, int]:
    conn = stack.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT dag_run_id, count(*) FROM rest_trigger_results"
                " WHERE dag_run_id = ANY(%s) GROUP BY dag_run_id",
                (run_ids,),
            )
            return dict(cur.fetchall())
    finally:
        conn.close()


def test_killed_processes_are_restarted_until_the_cap() -> None:
    fresh_root = os.geteuid() == 0
    user = f"rt-test-{secrets.token_hex(4)}"
    extra = {"REST_TRIGGER_MAX_RESTARTS": "1"}
    if fresh_root:
        with pytest.raises(KeyError):
            pwd.getpwnam(user)
        state = Path(os.path.realpath(tempfile.mkdtemp(prefix="rest-trigger-test-private-")))
        extra["REST_TRIGGER_PG_USER"] = user
    else:
        state = None
    stack = start_stack(state_dir=state, **extra)
    try:
        if fresh_root:
            assert pwd.getpwnam(user)
            assert "so the embedded PostgreSQL keeps its data in" in stack.output.read_text()

        # Runs in flight, then the scheduler dies as the OOM killer would kill it.
        run_ids = [f"supervised-{i}" for i in range(IN_FLIGHT)]
        for run_id in run_ids:
            assert stack.trigger(run_id, CONF).status_code == 200
        wait_until(
            lambda: any(
                r["state"] == "running"
                for r in stack.get(RUNS, params={"limit": 100}).json()["dag_runs"]
            ),
            120,
            "a run started",
        )
        states = [stack.get(f"{RUNS}/{r}").json()["state"] for r in run_ids]
        assert any(s in ("queued", "running") for s in states), states
        first_scheduler = pid_of(stack, "scheduler")
        os.kill(first_scheduler, signal.SIGKILL)

        # Nobody touches the stack: every run still ends in success, one result row each.
        for run_id in run_ids:
            assert stack.wait_for_run(run_id, timeout=300)["state"] == "success", run_id
        assert result_rows(stack, run_ids) == dict.fromkeys(run_ids, 1)
        log = stack.output.read_text()
        assert "airflow scheduler exited with code -9 (SIGKILL); restarting it in 1 s" in log
        assert "Last lines of" in log
        assert pid_of(stack, "scheduler") != first_scheduler

        # The webserver too: the API answers again after it was killed.
        os.kill(pid_of(stack, "webserver"), signal.SIGKILL)
        wait_until(lambda: "airflow webserver restarted" in stack.output.read_text(), 60, "restart")
        wait_until(lambda: api_answers(stack), 180, "the API answers after the restart")

        # A second scheduler death within the window passes the cap (1): stop everything.
        family = psutil.Process(stack.process.pid).children(recursive=True)
        postmaster = int((pg_data_dir(stack.state_dir) / "postmaster.pid").read_text().split()[0])
        family.append(psutil.Process(postmaster))
        os.kill(pid_of(stack, "scheduler"), signal.SIGKILL)
        assert stack.process.wait(timeout=120) == 1
        log = stack.output.read_text()
        assert "after 1 restart(s) within 600 s: giving up" in log
        assert "[make run] stopped" in log
        time.sleep(0.5)
        assert [p.pid for p in family if alive(p)] == []
        assert not (pg_data_dir(stack.state_dir) / "postmaster.pid").exists()
        for port in (stack.pg_port, stack.warehouse_port, int(stack.base_url.rsplit(":", 1)[1])):
            assert port_is_free("127.0.0.1", port)
    finally:
        stop_stack(stack)
        if fresh_root:
            subprocess.run(["userdel", user], capture_output=True, timeout=60)
