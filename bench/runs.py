"""The runs the benchmark posts, as a caller posts and waits for them, and where one run's time
went (from Airflow's own timestamps); read over the REST API through the trigger client
(rest_trigger_client) and its transport, the only REST client here: a timed POST, a run, the
runs of one id prefix, a run's task instances, main_etl's total."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from bench.stack import Stack
from bench.stats import summary
from rest_trigger_client import RestTriggerClient
from rest_trigger_client.transport import Transport
from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL, PUSHER

RUNS = f"/dags/{DAG_ID}/dagRuns"
PAGE = 100  # Airflow's [api] maximum_page_limit
CHAINS = {PUSHER: None, MAIN_ETL: PUSHER}
# How often the benchmark's caller polls: one run listing per poll, as an efficient client
# does (rest_trigger_client's wait_many). A caller sees the end up to this much late.
CALLER_POLL_S = 0.1
# A gunicorn worker that is still booting (or being recycled) resets the connection: the
# benchmark's callers retry that, with backoff.
CONNECT_RETRIES = 6


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


def caller_client(stack: Stack) -> RestTriggerClient:
    """The REST client other systems use (rest_trigger_client), with the stack's caller login;
    its transport also sends the benchmark's own requests."""
    return RestTriggerClient(
        stack.base_url, *stack.auth, api=stack.api_version, connect_retries=CONNECT_RETRIES
    )


def caller_transport(stack: Stack) -> Transport:
    """The trigger client's transport alone, with the stack's caller login (one per thread)."""
    return Transport(
        stack.base_url, *stack.auth, api=stack.api_version, connect_retries=CONNECT_RETRIES
    )


def post_run(transport: Transport, run_id: str, conf: dict[str, Any] | None = None) -> Posted:
    """POST one run (the demo conf unless ``conf``), timed; any answer is returned. The body is
    the transport's API version's (/api/v2 requires ``logical_date: null``)."""
    body = transport.version.trigger_body(run_id, conf or DEMO_CONF)
    transport.auth.headers()  # log in first (/api/v2: a token, fetched once per transport)
    sent_at = time.time()
    started = time.perf_counter()
    response = transport.post(RUNS, body, timeout=60)
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


def run_to_end(caller: RestTriggerClient, run_id: str) -> tuple[Posted, dict[str, Any], float]:
    """POST one run and wait for it to end as a caller does, polling the REST API; return the
    POST, the run, and when the caller saw it end (seconds after the POST was sent)."""
    posted = post_run(caller.transport, run_id)
    if posted.status != 200:
        raise RuntimeError(f"POST {run_id}: {posted.status} {posted.body}")
    # Listing, never the wait stream (bench/waiting.py measures that): figures stay comparable.
    caller.wait_many([run_id], timeout=600, poll_interval=CALLER_POLL_S, max_streams=0)
    seen = time.time() - posted.sent_at
    return posted, run_json(caller.transport, run_id), seen


def main_etl_total(caller: RestTriggerClient, run_id: str) -> int:
    """main_etl's total, from its summary XCom (read deserialized, or from its text form where
    Airflow does not deserialize: the stock settings)."""
    result = caller.summary(run_id)
    if result is None:
        raise RuntimeError(f"run {run_id} has no summary XCom")
    return int(result["total"])


def breakdown(posted: Posted, run: dict[str, Any], tis: list[dict[str, Any]]) -> dict[str, float]:
    """Where one run's time went, in seconds from the POST, from Airflow's own timestamps.

    Per task: sched = from the moment it could run (the run started, or its upstream ended) to
    queued_when (the scheduler's decision), queue = queued_when to start_date (executor pick-up,
    task process start-up until the task instance is marked running), run = start_date to
    end_date (the task itself, with its own start-up, DB writes and the mini scheduler).
    """
    run_start = parse_ts(run["start_date"])
    run_end = parse_ts(run["end_date"])
    out: dict[str, float] = {
        "post": posted.seconds,
        "post_to_running": run_start - posted.sent_at,
        "post_to_success": run_end - posted.sent_at,
    }
    by_id = {ti["task_id"]: ti for ti in tis}
    last_end = run_start
    for task_id, upstream in CHAINS.items():
        ti = by_id.get(task_id)
        if not ti or not ti["end_date"]:
            continue
        ready = parse_ts(by_id[upstream]["end_date"]) if upstream else run_start
        queued, start, end = (parse_ts(ti[k]) for k in ("queued_when", "start_date", "end_date"))
        if queued:
            out[f"{task_id}.sched"] = queued - ready
            out[f"{task_id}.queue"] = start - queued
        out[f"{task_id}.run"] = end - start
        last_end = max(last_end, end)
    out["last_task_end_to_success"] = run_end - last_end
    return out


def aggregate(rows: list[dict[str, float]]) -> dict[str, Any]:
    keys = sorted({k for row in rows for k in row})
    return {k: summary([row[k] for row in rows if k in row]) for k in keys}
