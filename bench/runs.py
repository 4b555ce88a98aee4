"""The runs the benchmark posts and the timestamps Airflow records for them, read over the REST
API through the trigger client's transport (rest_trigger_client.transport): a timed POST, a run,
the runs of one id prefix, a run's task instances."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from rest_trigger_client.transport import Transport
from rest_trigger_etl.names import DAG_ID, DEMO_CONF

RUNS = f"/dags/{DAG_ID}/dagRuns"
PAGE = 100  # Airflow's [api] maximum_page_limit


def parse_ts(value: str | None) -> float | None:
    """An API timestamp as a POSIX time (the API answers in UTC, with an offset)."""
    return dt.datetime.fromisoformat(value).timestamp() if value else None


@dataclass
class Posted:
    run_id: str
    status: int
    sent_at: float  # wall clock (time.time()) when the POST was sent
    seconds: float  # how long the POST took to answer
    body: str = ""


def post_run(transport: Transport, run_id: str, conf: dict[str, Any] | None = None) -> Posted:
    """POST one run (the demo conf unless ``conf``), timed; any answer is returned."""
    sent_at = time.time()
    started = time.perf_counter()
    response = transport.post(RUNS, {"dag_run_id": run_id, "conf": conf or DEMO_CONF}, timeout=60)
    seconds = time.perf_counter() - started
    body = "" if response.status_code == 200 else response.text[:300]
    return Posted(run_id, response.status_code, sent_at, seconds, body)


def run_json(transport: Transport, run_id: str) -> dict[str, Any]:
    response = transport.get(f"{RUNS}/{run_id}", timeout=60)
    response.raise_for_status()
    return response.json()


def runs_with_prefix(transport: Transport, prefix: str) -> dict[str, dict[str, Any]]:
    """Every run whose id starts with prefix (paged)."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        response = transport.get(
            RUNS, params={"limit": PAGE, "offset": offset, "order_by": "start_date"}, timeout=60
        )
        response.raise_for_status()
        page = response.json()["dag_runs"]
        found.update({r["dag_run_id"]: r for r in page if r["dag_run_id"].startswith(prefix)})
        if len(page) < PAGE:
            return found
        offset += PAGE


def task_instances(transport: Transport, run_id: str) -> list[dict[str, Any]]:
    response = transport.get(f"{RUNS}/{run_id}/taskInstances", timeout=60)
    response.raise_for_status()
    return response.json()["task_instances"]


def wait_dag_served(transport: Transport, timeout: float = 120) -> None:
    """Wait until the scheduler has serialized the DAG (a POST before that is a 404)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if transport.get(f"/dags/{DAG_ID}", timeout=60).status_code == 200:
            return
        time.sleep(0.5)
    raise TimeoutError(f"DAG {DAG_ID} not available after {timeout} s")
