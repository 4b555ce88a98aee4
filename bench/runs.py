"""Runs as a caller posts and waits for them, and where one run's time went (from Airflow's own
timestamps)."""

from __future__ import annotations

import time
from typing import Any

from bench.client import Client, Posted, parse_ts
from bench.stack import Stack
from bench.stats import summary

CHAINS = {"pusher": None, "main_etl": "pusher"}


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


# How often the benchmark's caller polls: one run listing per poll, as an efficient client
# does (rest_trigger_client's wait_many). A caller sees the end up to this much late.
CALLER_POLL_S = 0.1


def caller_client(stack: Stack) -> Any:
    """The REST client other systems use (rest_trigger_client), with the stack's caller login."""
    from rest_trigger_client import RestTriggerClient

    return RestTriggerClient(stack.base_url, *stack.auth, connect_retries=6)


def run_to_end(client: Client, caller: Any, run_id: str) -> tuple[Posted, dict[str, Any], float]:
    """POST one run and wait for it to end as a caller does, polling the REST API; return the
    POST, the run, and when the caller saw it end (seconds after the POST was sent)."""
    posted = client.trigger(run_id)
    if posted.status != 200:
        raise RuntimeError(f"POST {run_id}: {posted.status} {posted.body}")
    caller.wait_many([run_id], timeout=600, poll_interval=CALLER_POLL_S)
    seen = time.time() - posted.sent_at
    return posted, client.run(run_id), seen
