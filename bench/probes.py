"""The sections measured in fresh processes against the project stack: the DAG file's parse
(``airflow dags report`` and rest_trigger_local.parse_probe) and the floor under a run
(bench/floor_probe.py, ``dag.test()``)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench.query import COUNT_PARAMS, count_sql, time_query
from bench.stack import Stack
from bench.stats import summary
from rest_trigger_etl.names import MAIN_ETL, PUSHER
from rest_trigger_local.settings import PROJECT_DIR


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
            [sys.executable, "-m", "rest_trigger_local.parse_probe"],
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
    query_s, _ = time_query(stack, count_sql(), COUNT_PARAMS, 20)
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
