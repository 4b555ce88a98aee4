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
            "cpu_per_run_s": cpu,
        },
    }


def _row(table: str, goal: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"| {goal}"))


def test_goals_met() -> None:
    table = markdown(_result(0.9, 110.0, 0.9))
    assert _row(table, "POST to success >= 10x").endswith("| met |")  # 12.0 / 0.9
    assert _row(table, "POST to success, sequential").endswith("| met |")
    assert _row(table, "burst >= 100 runs/min").endswith("| met |")
    assert _row(table, "burst: CPU per run").endswith("| met |")
    assert _row(table, "burst POST p95").endswith("| met |")
    assert "Goals not met" not in table


def test_goals_not_met_point_at_the_gaps() -> None:
    table = markdown(_result(1.5, 60.0, 1.9))
    assert _row(table, "POST to success >= 10x").endswith("**not met** |")  # 12.0 / 1.5 = 8x
    assert _row(table, "POST to success, sequential").endswith("**not met** |")
    assert _row(table, "burst >= 100 runs/min").endswith("**not met** |")
    assert _row(table, "burst: CPU per run").endswith("**not met** |")
    assert "Goals not met" in table
