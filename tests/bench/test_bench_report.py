"""bench/report.py's goals table: each goal judged from the figures it is given (no stack)."""

from __future__ import annotations

from typing import Any

from bench.report import markdown


def _s(median: float) -> dict[str, Any]:
    return {"n": 5, "median": median, "p95": median * 1.1, "min": median, "max": median}


def _latency(seconds: float, cpu: float) -> dict[str, Any]:
    return {
        "runs": 5,
        "post_to_success_s": _s(seconds),
        "caller_post_to_success_s": _s(seconds + 0.05),
        "caller_poll_s": 0.1,
        "cpu_per_run_s": cpu,
        "breakdown_s": {"post": _s(0.05)},
    }


def _result(project_s: float, runs_per_minute: float, cpu: float) -> dict[str, Any]:
    machine = {"cores": 2, "cpu_model": "x", "memory_mib": 1, "python": "3.11", "airflow": "2"}
    return {
        "machine": {**machine, "load_at_start": [0.1, 0.1, 0.1]},
        "latency_project": _latency(project_s, 1.0),
        "latency_stock": _latency(12.0, 15.0),
        "burst": {
            "runs": 100,
            "callers": 10,
            "post_s": _s(0.2),
            "all_finished_s": 60.0,
            "runs_per_minute": runs_per_minute,
            "caller_runs_per_minute": runs_per_minute,
            "caller_all_finished_s": 60.0,
            "caller_polls": 50,
            "post_to_success_s": _s(30.0),
            "succeeded": 100,
            "failed": 0,
            "missing": 0,
            "post_5xx": 0,
            "cpu_per_run_s": cpu,
        },
    }


def _row(table: str, goal: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"| {goal}"))


def test_goals_met() -> None:
    table = markdown(_result(0.6, 110.0, 0.9))
    assert _row(table, "POST to success >= 10x").endswith("| met |")  # 12.0 / 0.6
    assert _row(table, "Airflow 2: POST to success, sequential, median <= 0.7 s").endswith(
        "| met |"
    )  # 0.6 s by Airflow, 0.65 s as the caller saw it
    assert _row(table, "Airflow 2: burst >= 100 runs/min").endswith("| met |")
    assert _row(table, "Airflow 2: burst, CPU per run, all processes <= 1.0").endswith("| met |")
    assert _row(table, "Airflow 2: burst POST p95 < 250 ms").endswith("| met |")  # 220 ms
    assert _row(table, "Airflow 2: burst, no POST answered 5xx").endswith("| met |")
    assert "Goals not met" not in table


def test_a_5xx_in_the_burst_is_a_goal_not_met() -> None:
    result = _result(0.6, 110.0, 0.9)
    result["burst"]["post_5xx"] = 1
    table = markdown(result)
    assert _row(table, "Airflow 2: burst, no POST answered 5xx").endswith("**not met** |")
    assert "Goals not met" in table


def test_goals_not_met_point_at_the_gaps() -> None:
    table = markdown(_result(1.5, 60.0, 1.9))
    assert _row(table, "POST to success >= 10x").endswith("**not met** |")  # 12.0 / 1.5 = 8x
    assert _row(table, "Airflow 2: POST to success, sequential").endswith("**not met** |")
    assert _row(table, "Airflow 2: burst >= 100 runs/min").endswith("**not met** |")
    assert _row(table, "Airflow 2: burst, CPU per run").endswith("**not met** |")
    assert "Goals not met" in table


def test_the_sequential_goal_holds_only_if_the_caller_saw_it_too() -> None:
    """0.68 s by Airflow's end_date, 0.73 s as the caller saw it: not met."""
    table = markdown(_result(0.68, 110.0, 0.9))
    assert _row(table, "Airflow 2: POST to success, sequential").endswith("**not met** |")


def _with_airflow3(result: dict[str, Any], seconds: float, runs_per_minute: float) -> dict:
    burst = {**result["burst"], "runs_per_minute": runs_per_minute,
             "caller_runs_per_minute": runs_per_minute - 5, "cpu_per_run_s": 2.0}  # fmt: skip
    latency = _latency(seconds, 3.0)
    latency["breakdown_s"] = {"post": _s(0.1), "main_etl.queue": _s(0.5)}
    return {
        **result,
        "project_stack_start_s": 40.0,
        "latency_airflow3": latency,
        "burst_airflow3": burst,
        "airflow3": {"airflow": "3.3.2", "stack_start_s": 120.0},
    }


def _cells(table: str, measure: str) -> list[str]:
    return [c.strip() for c in _row(table, measure).strip("|").split("|")]


def test_airflow_versions_side_by_side() -> None:
    result = _result(0.9, 110.0, 0.9)
    result["machine"]["airflow"] = "2.11.2"
    table = markdown(_with_airflow3(result, 1.8, 55.0))
    assert "### Airflow 2.11.2 vs Airflow 3.3.2" in table
    assert "| measure | Airflow 2.11.2 | Airflow 3.3.2 | 3.3.2 / 2.11.2 |" in table
    assert _cells(table, "stack start-up") == ["stack start-up (launcher to ready)", "40.00 s",
                                               "120.00 s", "3.00x"]  # fmt: skip
    assert _cells(table, "POST to success, Airflow's") == [
        "POST to success, Airflow's end_date (median / p95)", "0.90 s / 0.99 s",
        "1.80 s / 1.98 s", "2.00x",
    ]  # fmt: skip
    assert _cells(table, "POST to success, as the caller")[1:] == [
        "0.95 s / 1.05 s",
        "1.85 s / 2.04 s",
        "1.95x",
    ]
    assert _cells(table, "CPU-s per sequential run")[1:] == ["1.0", "3.0", "3.00x"]
    assert _cells(table, "burst runs per minute (Airflow")[1:] == ["110.0", "55.0", "0.50x"]
    assert _cells(table, "burst runs per minute, as the caller")[1:] == ["110.0", "50.0", "0.45x"]
    assert _cells(table, "burst CPU-s per run")[1:] == ["0.9", "2.0", "2.22x"]
    assert _cells(table, "burst succeeded")[1:] == ["100/0/0", "100/0/0", ""]
    # The breakdown of both, a step only one of them has included.
    assert _cells(table, "main_etl.queue") == ["main_etl.queue", "-", "500 ms / 550 ms"]
    assert "| post | 50 ms / 55 ms | 100 ms / 110 ms |" in table
    # Each version's goals are judged on its own figures.
    assert _row(table, "Airflow 2.11.2: burst >= 100 runs/min").endswith("| met |")
    assert _row(table, "Airflow 3.3.2: burst >= 100 runs/min").endswith("**not met** |")  # 50
    assert _row(table, "Airflow 3.3.2: POST to success, sequential").endswith("**not met** |")
    assert _row(table, "Airflow 3.3.2: burst, CPU per run").endswith("**not met** |")  # 2.0


def test_no_airflow3_no_versions_table() -> None:
    assert "vs Airflow" not in markdown(_result(0.9, 110.0, 0.9))


def test_airflow3_failure_fails_its_goal_and_keeps_the_rest() -> None:
    result = _result(0.9, 110.0, 0.9)
    result["errors"] = {"burst_airflow3": "RuntimeError: boom"}
    result["latency_airflow3"] = _latency(1.5, 2.0)
    result["airflow3"] = {"airflow": "3.3.2", "stack_start_s": 100.0}
    table = markdown(result)
    assert _row(table, "burst_airflow3 ran").endswith("**not met** |")
    assert _cells(table, "burst runs per minute (Airflow")[1:] == ["110.0", "-", "-"]
    assert _cells(table, "POST to success, Airflow's")[3] == "1.67x"


def _waiting() -> dict[str, Any]:
    def way(requests: float, logged: float, delay: float) -> dict[str, Any]:
        return {
            "requests_per_run": {**_s(requests), "p95": requests + 1},
            "access_log_requests_per_run": {**_s(logged), "p95": logged + 1},
            "run_end_to_caller_knows_s": _s(delay),
        }

    many = {"runs": 3, "listing": {"requests": 7, "access_log_requests": 7,
                                   "last_end_to_caller_knows_s": 0.6},
            "streams": {"requests": 4, "access_log_requests": 5,
                        "last_end_to_caller_knows_s": 0.3}}  # fmt: skip
    return {"interval_s": 1.0, "runs": 5, "polling": way(9, 9, 0.55),
            "stream": way(4, 4, 0.3), "many": [many]}  # fmt: skip


def test_waiting_rows_compare_polling_and_the_wait_stream() -> None:
    result = {**_result(0.9, 110.0, 0.9), "airflow3": {"airflow": "3.3.2", "stack_start_s": 40}}
    table = markdown({**result, "waiting_airflow3": _waiting()})
    assert "### Waiting on Airflow 3.3.2: polling vs the wait stream (5 sequential runs each, " \
        "interval 1 s)" in table, table  # fmt: skip
    assert _row(table, "requests per run, client's count") == (
        "| requests per run, client's count (median / p95) | 9 / 10 | 4 / 5 |"
    )
    assert _row(table, "requests per run, api-server access log").endswith("| 9 / 10 | 4 / 5 |")
    assert _row(table, "run end (end_date) to caller knows").endswith(
        "| 0.55 s / 0.61 s | 0.30 s / 0.33 s |"  # p95: 1.1 x median
    )
    assert _row(table, "3 runs") == "| 3 runs | 7 | 4 (access log 5) | 0.60 s | 0.30 s |"
    assert "Waiting on" not in markdown(result)  # no rows without the section


def test_posts_run_again_after_a_lost_race_are_shown_and_still_meet_the_goal() -> None:
    """trigger_race.py answered them (the run, or 409): no 5xx, but the report says so."""
    result = _result(0.6, 110.0, 0.9)
    result["burst"]["post_retried"] = 2
    row = _row(markdown(result), "Airflow 2: burst, no POST answered 5xx")
    assert "2 retried after a lost race" in row and row.endswith("| met |"), row
