"""`make run`'s lifecycle: SIGTERM and Ctrl-C's SIGINT stop everything it started, and a second
start reuses the state folder (no new cluster, no re-seed, earlier runs still there)."""

from __future__ import annotations

import signal

import pytest

from rest_trigger_etl.names import DAG_ID, MAIN_ETL
from tests.support.airflow_stack import start_stack, stop_stack

pytestmark = pytest.mark.e2e

CONF = {"gid": 3, "sid": 5, "date_start": "2024-06-01", "date_end": "2024-06-30"}


def test_stop_leaves_nothing_and_restart_reuses_state() -> None:
    first = start_stack()
    try:
        first_log = first.output.read_text()
        assert "created the embedded PostgreSQL cluster" in first_log
        assert "seeded the warehouse" in first_log
        assert first.trigger("before-restart", CONF).status_code == 200
        assert first.wait_for_run("before-restart")["state"] == "success"
    finally:
        leftovers = stop_stack(first)
    assert first.process.returncode == 0
    assert leftovers == []

    second = start_stack(state_dir=first.state_dir)
    try:
        second_log = second.output.read_text()
        assert "created the embedded PostgreSQL cluster" not in second_log
        assert "seeded the warehouse" not in second_log
        assert second.get(f"/dags/{DAG_ID}/dagRuns/before-restart").json()["state"] == "success"
        assert second.xcom("before-restart", MAIN_ETL)["dag_run_id"] == "before-restart"
    finally:
        # SIGINT, even though the test runner may have started it with SIGINT ignored.
        leftovers = stop_stack(second, signal.SIGINT)
    assert second.process.returncode == 0
    assert leftovers == []
