"""The four measurements: latency, burst, parse and query scale."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.runs import (
    Posted,
    parse_ts,
    post_run,
    run_json,
    runs_with_prefix,
    task_instances,
    wait_dag_served,
)
from bench.stack import PROJECT_DIR, Stack
from bench.stats import loadavg, summary
from rest_trigger_client import RestTriggerClient
from rest_trigger_client.results import TERMINAL_STATES
from rest_trigger_client.transport import Transport
from rest_trigger_etl.names import DEMO_CONF as CONF
from rest_trigger_etl.names import MAIN_ETL, PUSHER

CHAINS = {PUSHER: None, MAIN_ETL: PUSHER}
BURST_POLL_S = 0.5
# The count query's bound values for the demo conf, in the SQL file's placeholder order.
COUNT_PARAMS = (CONF["gid"], CONF["sid"], CONF["date_start"], CONF["date_end"])


def _count_sql() -> str:
    """main_etl's query text, as rest_trigger_etl.sql_files.load_sql gives it to the driver."""
    sql = (PROJECT_DIR / "include" / "sql" / "count_user_activity.sql").read_text()
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def _expected_total(stack: Stack, conf: dict[str, Any] = CONF) -> int:
    sql = _count_sql()
    conn = stack.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, (conf["gid"], conf["sid"], conf["date_start"], conf["date_end"]))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _category(cmdline: str) -> str:
    if "postgres" in cmdline:
        return "postgres (metadata DB and warehouse)"
    if "LocalExecutor" in cmdline:
        return "task processes (LocalExecutor workers and the tasks they fork)"
    if "DagFileProcessor" in cmdline:
        return "DAG file processor"
    if "gunicorn" in cmdline or "webserver" in cmdline:
        return "webserver (REST API)"
    if "scheduler" in cmdline:
        return "scheduler loop"
    if "rest_trigger_local" in cmdline or "stock_stack" in cmdline:
        return "launcher (and warehouse relay)"
    return "other"


def _postmaster(stack: Stack) -> int | None:
    """The embedded PostgreSQL's postmaster, found by its port: as root it runs as its own user
    and may keep its data outside the state folder, so neither the launcher's process tree nor
    the state folder leads to it."""
    import psutil

    port = str(stack.pg_port)
    for proc in psutil.process_iter(["name", "cmdline", "ppid"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and port in cmd and "-p" in cmd:
            return proc.pid
    return None


def cpu_snapshot(stack: Stack) -> dict[int, tuple[str, float]]:
    """CPU seconds (own + reaped children) of every process of the stack, PostgreSQL's
    included, by pid."""
    import psutil

    roots = [stack.process.pid]
    postmaster = _postmaster(stack)
    if postmaster is not None:
        roots.append(postmaster)
    out: dict[int, tuple[str, float]] = {}
    for root in roots:
        try:
            top = psutil.Process(root)
            family = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in family:
            try:
                t = proc.cpu_times()
                cmd = " ".join(proc.cmdline()) or proc.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total = t.user + t.system + t.children_user + t.children_system
            out[proc.pid] = (_category(cmd), total)
    return out


def cpu_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict:
    """CPU seconds used between two snapshots, by kind of process. Processes that started and
    ended in between count through the parent that reaped them (tasks: their executor worker;
    PostgreSQL backends: the postmaster)."""
    spent: dict[str, float] = {}
    for pid, (category, total) in after.items():
        spent[category] = spent.get(category, 0.0) + total - before.get(pid, (category, 0.0))[1]
    return {k: round(v, 1) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}


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


def _aggregate(rows: list[dict[str, float]]) -> dict[str, Any]:
    keys = sorted({k for row in rows for k in row})
    return {k: summary([row[k] for row in rows if k in row]) for k in keys}


# How often the benchmark's caller polls: one run listing per poll, as an efficient client
# does (rest_trigger_client's wait_many). A caller sees the end up to this much late.
CALLER_POLL_S = 0.1


def _caller(stack: Stack) -> RestTriggerClient:
    """The REST client other systems use (rest_trigger_client), with the stack's caller login;
    its transport also sends the benchmark's own requests. A gunicorn worker that is still
    booting (or being recycled) resets the connection: 6 retries, with backoff."""
    return RestTriggerClient(stack.base_url, *stack.auth, connect_retries=6)


def _run_to_end(caller: RestTriggerClient, run_id: str) -> tuple[Posted, dict[str, Any], float]:
    """POST one run and wait for it to end as a caller does, polling the REST API; return the
    POST, the run, and when the caller saw it end (seconds after the POST was sent)."""
    posted = post_run(caller.transport, run_id)
    if posted.status != 200:
        raise RuntimeError(f"POST {run_id}: {posted.status} {posted.body}")
    caller.wait_many([run_id], timeout=600, poll_interval=CALLER_POLL_S)
    seen = time.time() - posted.sent_at
    return posted, run_json(caller.transport, run_id), seen


def _total(caller: RestTriggerClient, run_id: str) -> int:
    """main_etl's total, from its summary XCom (read deserialized, or from its text form where
    Airflow does not deserialize: the stock settings)."""
    summary = caller.summary(run_id)
    if summary is None:
        raise RuntimeError(f"run {run_id} has no summary XCom")
    return int(summary["total"])


def latency(stack: Stack, runs: int, warmup: int, say: Any) -> dict[str, Any]:
    """Sequential runs: POST, wait for the end as a caller does (polling the REST API every
    CALLER_POLL_S), next. Two figures per run: POST to success from Airflow's own timestamps
    (the run's end_date, set when the scheduler marks it a success, minus the moment the POST
    was sent) and as the caller saw it (when its poll first answered success). CPU-seconds of
    every process of the stack (PostgreSQL included) over the measured runs, per run."""
    caller = _caller(stack)
    wait_dag_served(caller.transport)
    expected = _expected_total(stack)
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
        posted, run, seen = _run_to_end(caller, run_id)
        states[run["state"]] = states.get(run["state"], 0) + 1
        if i == warmup:  # check the result once: real SQL on the demo data
            total = _total(caller, run_id)
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
        "breakdown_s": _aggregate(rows),
    }


def burst(stack: Stack, runs: int, callers: int, say: Any, timeout: float = 900) -> dict[str, Any]:
    """runs POSTs from `callers` concurrent callers, then wait until every run has ended."""
    prefix = f"burst-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{i:04d}" for i in range(runs)]
    local = threading.local()

    def post(run_id: str) -> Posted:
        if not hasattr(local, "transport"):  # one caller per thread
            local.transport = Transport(stack.base_url, *stack.auth, connect_retries=6)
        return post_run(local.transport, run_id)

    transport = Transport(stack.base_url, *stack.auth, connect_retries=6)
    wait_dag_served(transport)
    load = loadavg()
    cpu_before = cpu_snapshot(stack)
    cpu_started = time.monotonic()
    started = time.time()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        posted = list(pool.map(post, ids))
    posted_by_id = {p.run_id: p for p in posted}
    accepted = [p for p in posted if p.status == 200]
    say(f"  {len(accepted)}/{runs} POSTs accepted in {time.time() - started:.1f} s; waiting")
    # The caller waits for all its runs with one run listing per poll (rest_trigger_client's
    # wait_many), as an efficient client does; Airflow's own end_dates give the finish times.
    caller = _caller(stack)
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
        "post_errors": [f"{p.status} {p.body}" for p in posted if p.status != 200][:5],
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
        "profile_sample_s": _aggregate(profile),
        "cpu_s": cpu,
        "cpu_window_s": round(cpu_wall, 1),
    }


def parse(stack: Stack, reports: int, probes: int, say: Any) -> dict[str, Any]:
    """The DAG file's parse time as Airflow reports it, and its cost in a fresh process."""
    env = stack.airflow_env()
    durations: list[float] = []
    for _ in range(reports):
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "report", "-o", "json"],
            env=env, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        # Log lines can come first on stdout; the report is the last line that is a JSON list.
        line = [x for x in result.stdout.splitlines() if x.startswith("[{")][-1]
        rows = json.loads(line)
        row = next(r for r in rows if r["file"].endswith("rest_trigger.py"))
        durations.append(_duration(row["duration"]))
    say(f"  airflow dags report: {durations}")
    probe_rows = []
    for _ in range(probes):
        result = subprocess.run(
            [sys.executable, "-m", "bench.parse_probe"],
            env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        probe_rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return {
        "dags_report_s": summary(durations, 4),
        "import_airflow_s": summary([p["import_airflow_s"] for p in probe_rows], 4),
        "first_parse_s": summary([p["first_parse_s"] for p in probe_rows], 4),
        "reparse_s": summary([p["reparse_s"] for p in probe_rows], 4),
        "db_queries": max(p["db_queries"] for p in probe_rows),
        "new_modules": probe_rows[0]["new_modules"],
        "dags": probe_rows[0]["dags"],
        "import_errors": probe_rows[0]["import_errors"],
    }


def floor(stack: Stack, runs: int, say: Any) -> dict[str, Any]:
    """The useful work of a run without Airflow's machinery: dag.test() in one process
    (bench/floor_probe.py) against this stack's warehouse, and the count query alone."""
    env = stack.airflow_env()
    result = subprocess.run(
        [sys.executable, "-m", "bench.floor_probe", str(runs)],
        env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"floor probe failed: {result.stderr.strip()[-800:]}")
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    query_s, _ = _time_query(stack, _count_sql(), COUNT_PARAMS, 20)
    out = {
        "runs": len(rows),
        "dag_test_s": summary([r["dag_test_s"] for r in rows]),
        "dag_test_cpu_s": summary([r["dag_test_cpu_s"] for r in rows]),
        "pusher_s": summary([r[PUSHER] for r in rows]),
        "main_etl_s": summary([r[MAIN_ETL] for r in rows]),
        "query_s": summary(query_s, 4),
    }
    medians = {k: out[k]["median"] for k in ("dag_test_s", "pusher_s", "main_etl_s")}
    say(f"  floor, medians: {medians}")
    return out


def _duration(text: str) -> float:
    """'0:00:00.051234' -> 0.051234"""
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def scale(
    stack: Stack, sizes: list[int], runs: int, queries: int, say: Any
) -> list[dict[str, Any]]:
    """main_etl and its query on demo data of each size (the stack's warehouse is re-seeded)."""
    from rest_trigger_local import warehouse

    caller = _caller(stack)
    sql = _count_sql()
    params = COUNT_PARAMS
    out = []
    for rows in sizes:
        conn = stack.warehouse()
        started = time.monotonic()
        warehouse.prepare(conn, rows=rows)
        seeded = time.monotonic() - started
        conn.close()
        say(f"  seeded {rows} rows in {seeded:.1f} s")
        query_s, plan = _time_query(stack, sql, params, queries)
        etl_s = []
        totals = set()
        prefix = f"scale-{rows}-{uuid.uuid4().hex[:6]}"
        for i in range(runs):
            run_id = f"{prefix}-{i}"
            _, run, _ = _run_to_end(caller, run_id)
            tis = {ti["task_id"]: ti for ti in task_instances(caller.transport, run_id)}
            etl = tis[MAIN_ETL]
            if run["state"] == "success":
                etl_s.append(parse_ts(etl["end_date"]) - parse_ts(etl["start_date"]))
                totals.add(_total(caller, run_id))
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


def _time_query(stack: Stack, sql: str, params: tuple[Any, ...], n: int) -> tuple[list[float], Any]:
    """The count query through redshift_connector and the relay, as main_etl sends it; and the
    plan PostgreSQL chose (EXPLAIN ANALYZE via psycopg2)."""
    import redshift_connector

    conn = redshift_connector.connect(
        host="127.0.0.1", port=stack.warehouse_port, database="dev",
        user="warehouse", password="warehouse", ssl=False,
    )  # fmt: skip
    times = []
    try:
        cursor = conn.cursor()
        for _ in range(n):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetch_dataframe()
            times.append(time.perf_counter() - started)
        conn.rollback()
    finally:
        conn.close()
    pg = stack.warehouse()
    try:
        with pg.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cur.fetchone()[0][0]
    finally:
        pg.close()
    return times, _plan_summary(plan)


def _plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" on {node['Index Name']}"
        elif "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        label += f" (rows={node.get('Actual Rows')}, loops={node.get('Actual Loops')})"
        nodes.append(label)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    top = plan["Plan"]
    return {
        "execution_ms": plan.get("Execution Time"),
        "shared_hit_blocks": top.get("Shared Hit Blocks"),
        "shared_read_blocks": top.get("Shared Read Blocks"),
        "nodes": nodes,
    }
