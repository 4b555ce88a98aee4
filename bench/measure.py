"""The sections that post runs over the REST API: latency (sequential), burst (concurrent) and
query scale (main_etl on growing demo data)."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rest_trigger_internals.trigger_race import RETRY_LOG

from bench.cpu import cpu_delta, cpu_snapshot
from bench.query import COUNT_PARAMS, count_sql, expected_total, time_query
from bench.runs import (
    CALLER_POLL_S,
    Posted,
    aggregate,
    breakdown,
    caller_client,
    caller_transport,
    main_etl_total,
    parse_ts,
    post_run,
    run_to_end,
    runs_with_prefix,
    task_instances,
    wait_dag_served,
)
from bench.server_log import api_log_count, api_tracebacks
from bench.stack import Stack
from bench.stats import loadavg, summary
from rest_trigger_client.results import TERMINAL_STATES
from rest_trigger_client.transport import Transport
from rest_trigger_etl.names import MAIN_ETL

BURST_POLL_S = 0.5


def latency(stack: Stack, runs: int, warmup: int, say: Any) -> dict[str, Any]:
    """Sequential runs: POST, wait for the end as a caller does (polling the REST API every
    CALLER_POLL_S), next. Two figures per run: POST to success from Airflow's own timestamps
    (the run's end_date, set when the scheduler marks it a success, minus the moment the POST
    was sent) and as the caller saw it (when its poll first answered success). CPU-seconds of
    every process of the stack (PostgreSQL included) over the measured runs, per run."""
    caller = caller_client(stack)
    wait_dag_served(caller.transport)
    expected = expected_total(stack)
    prefix = f"lat-{stack.variant}-{uuid.uuid4().hex[:6]}"
    rows: list[dict[str, float]] = []
    seen_s: list[float] = []
    states: dict[str, int] = {}
    load = loadavg()
    cpu_before: dict[int, tuple[str, float]] = {}
    for i in range(warmup + runs):
        if i == warmup:
            cpu_before = cpu_snapshot(stack)
        run_id = f"{prefix}-{i}"
        posted, run, seen = run_to_end(caller, run_id)
        states[run["state"]] = states.get(run["state"], 0) + 1
        if i == warmup:  # check the result once: real SQL on the demo data
            total = main_etl_total(caller, run_id)
            if total != expected:
                raise RuntimeError(f"main_etl returned {total}, the warehouse says {expected}")
        if i < warmup:
            continue
        row = breakdown(posted, run, task_instances(caller.transport, run_id))
        rows.append(row)
        seen_s.append(seen)
        say(f"  {stack.variant} run {i - warmup + 1}/{runs}: {row['post_to_success']:.2f} s "
            f"(caller saw it after {seen:.2f} s)")  # fmt: skip
    cpu = cpu_delta(cpu_before, cpu_snapshot(stack))
    caller.close()
    return {
        "runs": runs,
        "warmup": warmup,
        "states": states,
        "expected_total": expected,
        "load_before": load,
        "post_to_success_s": summary([r["post_to_success"] for r in rows]),
        "caller_post_to_success_s": summary(seen_s),
        "caller_poll_s": CALLER_POLL_S,
        "cpu_s": cpu,
        "cpu_per_run_s": round(sum(cpu.values()) / max(1, runs), 2),
        "breakdown_s": aggregate(rows),
    }


def burst(stack: Stack, runs: int, callers: int, say: Any, timeout: float = 900) -> dict[str, Any]:
    """runs POSTs from `callers` concurrent callers, then wait until every run has ended.

    Each caller is a client already talking to the API: its first authenticated request is made
    before the clock starts (2.11: basic auth, which fills the credential cache; 3.x: its token
    from POST /auth/token, which lasts 30 min). Otherwise the burst's first POSTs would queue
    behind the callers' password checks (scrypt; 34% of 3.3.2's api-server samples in a burst of
    100 that included them: docs/results/2026-12-02-profile-airflow3-burst-b6ff6dd.md), which a
    caller pays once per token, not per burst.
    Those first requests are timed on their own ("caller_first_request_s")."""
    prefix = f"burst-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{i:04d}" for i in range(runs)]
    local = threading.local()
    ready: queue.SimpleQueue[Transport] = queue.SimpleQueue()

    def first_request(_: int) -> float:
        caller = caller_transport(stack)
        started = time.perf_counter()
        wait_dag_served(caller)  # an authenticated GET of the DAG (on 3.x after the token)
        ready.put(caller)
        return time.perf_counter() - started

    def post(run_id: str) -> Posted:
        if not hasattr(local, "transport"):  # one caller per thread
            local.transport = ready.get_nowait()
        return post_run(local.transport, run_id)

    transport = caller_transport(stack)
    wait_dag_served(transport)
    with ThreadPoolExecutor(max_workers=callers) as pool:
        first = list(pool.map(first_request, range(callers)))
    load = loadavg()
    retried_before = api_log_count(stack.state_dir, RETRY_LOG)
    cpu_before = cpu_snapshot(stack)
    cpu_started = time.monotonic()
    started = time.time()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        posted = list(pool.map(post, ids))
    posted_by_id = {p.run_id: p for p in posted}
    accepted = [p for p in posted if p.status == 200]
    server_errors = sum(1 for p in posted if p.status >= 500)
    retried = api_log_count(stack.state_dir, RETRY_LOG) - retried_before
    tracebacks = api_tracebacks(stack.state_dir) if server_errors else []
    for text in tracebacks:  # a 5xx is a defect: say why while the log still exists
        say(f"  SERVER ERROR ({server_errors} POSTs answered 5xx); the API server logged:\n{text}")
    say(f"  {len(accepted)}/{runs} POSTs accepted in {time.time() - started:.1f} s; waiting")
    # The caller waits for all its runs with one run listing per poll (rest_trigger_client's
    # wait_many), as an efficient client does; Airflow's own end_dates give the finish times.
    caller = caller_client(stack)
    polls = 0
    try:
        waited = caller.wait_many(
            [p.run_id for p in accepted], timeout=timeout, poll_interval=BURST_POLL_S
        )
        polls = waited.polls
    except Exception as exc:  # a timeout: the runs still unfinished count as missing below
        say(f"  waiting ended: {exc}")
    caller_done = time.time() - started
    caller.close()
    cpu = cpu_delta(cpu_before, cpu_snapshot(stack))
    cpu_wall = time.monotonic() - cpu_started
    found = runs_with_prefix(transport, prefix)
    ended = [r for r in found.values() if r["state"] in TERMINAL_STATES]
    ends = [parse_ts(r["end_date"]) for r in ended if r["end_date"]]
    all_done = max(ends) - started if ends else None
    succeeded = sum(1 for r in ended if r["state"] == "success")
    per_run = [
        parse_ts(r["end_date"]) - posted_by_id[r["dag_run_id"]].sent_at
        for r in ended
        if r["end_date"]
    ]
    sample = [r["dag_run_id"] for r in ended[:: max(1, len(ended) // 20)]]
    profile = [
        breakdown(posted_by_id[i], found[i], task_instances(transport, i))
        for i in sample
        if found[i]["state"] == "success"
    ]
    transport.close()
    return {
        "runs": runs,
        "callers": callers,
        "load_before": load,
        "post_s": summary([p.seconds for p in posted]),
        "caller_first_request_s": summary(first),
        "post_errors": [f"{p.status} {p.body}" for p in posted if p.status != 200][:5],
        "post_5xx": server_errors,
        "post_retried": retried,  # 2.11: POSTs that lost a race for a run's keys (trigger_race)
        "server_tracebacks": tracebacks,
        "succeeded": succeeded,
        "failed": sum(1 for r in ended if r["state"] == "failed")
        + sum(1 for p in posted if p.status != 200),
        "missing": len(accepted) - len(ended),
        "all_finished_s": round(all_done, 2) if all_done else None,
        "runs_per_minute": round(succeeded / all_done * 60, 1) if all_done else None,
        "caller_all_finished_s": round(caller_done, 2),
        "caller_runs_per_minute": round(succeeded / caller_done * 60, 1),
        "caller_polls": polls,
        "cpu_per_run_s": round(sum(cpu.values()) / max(1, succeeded), 2),
        "post_to_success_s": summary(per_run),
        "profile_sample_s": aggregate(profile),
        "cpu_s": cpu,
        "cpu_window_s": round(cpu_wall, 1),
    }


def scale(
    stack: Stack, sizes: list[int], runs: int, queries: int, say: Any
) -> list[dict[str, Any]]:
    """main_etl and its query on demo data of each size (the stack's warehouse is re-seeded)."""
    from warehouse_standin import seed as warehouse

    caller = caller_client(stack)
    sql = count_sql()
    params = COUNT_PARAMS
    out = []
    for rows in sizes:
        conn = stack.warehouse()
        started = time.monotonic()
        warehouse.prepare(conn, rows=rows)
        seeded = time.monotonic() - started
        conn.close()
        say(f"  seeded {rows} rows in {seeded:.1f} s")
        query_s, plan = time_query(stack, sql, params, queries)
        etl_s = []
        totals = set()
        prefix = f"scale-{rows}-{uuid.uuid4().hex[:6]}"
        for i in range(runs):
            run_id = f"{prefix}-{i}"
            _, run, _ = run_to_end(caller, run_id)
            tis = {ti["task_id"]: ti for ti in task_instances(caller.transport, run_id)}
            etl = tis[MAIN_ETL]
            if run["state"] == "success":
                etl_s.append(parse_ts(etl["end_date"]) - parse_ts(etl["start_date"]))
                totals.add(main_etl_total(caller, run_id))
        out.append(
            {
                "rows": rows,
                "seed_s": round(seeded, 1),
                "query_s": summary(query_s, 4),
                "main_etl_s": summary(etl_s),
                "totals": sorted(totals),
                "plan": plan,
            }
        )
        say(f"  {rows} rows: query median {out[-1]['query_s']['median']} s, "
            f"main_etl median {out[-1]['main_etl_s']['median']} s")  # fmt: skip
    caller.close()
    return out
