"""bench/profile.py's reading of py-spy's raw samples (no stack, no py-spy needed)."""

from __future__ import annotations

from bench.profile import kind_of, report, summarise

SCHED = 'process 10:"python -m airflow scheduler"'
WORKER = 'process 11:"airflow worker -- LocalExecutor"'
SUPERVISOR = "process 12:\"airflow task supervisor: ['airflow', 'tasks', 'run']\""
RAW = 'process 13:"airflow task runner: rest-trigger pusher r1 7"'

RAW_SAMPLES = "\n".join(
    [
        f"{SCHED};main (airflow/__main__.py:62);loop (scheduler_job_runner.py:900) 30",
        f"{SCHED};{WORKER};{SUPERVISOR};task_run (task_command.py:450);execute (default.py:12) 6",
        f"{SCHED};{WORKER};{SUPERVISOR};task_run (task_command.py:451);connect (psycopg2:9) 4",
        f"{SCHED};{WORKER};{SUPERVISOR};{RAW};run (taskinstance.py:3) 10",
        "not a sample line",
    ]
)


def test_the_innermost_process_decides_the_kind() -> None:
    assert kind_of([SCHED, WORKER, SUPERVISOR, RAW, "f (x.py:1)"]).startswith("raw task")
    assert kind_of([SCHED, WORKER, SUPERVISOR, "f (x.py:1)"]).startswith("task supervisor")
    assert kind_of([SCHED, WORKER, "f (x.py:1)"]) == "LocalExecutor worker"
    assert kind_of([SCHED, "f (x.py:1)"]) == "scheduler"
    assert kind_of(["f (x.py:1)"]) == "other"


def test_samples_are_counted_by_kind_and_function() -> None:
    summary = summarise(RAW_SAMPLES)
    kinds = summary[""]
    assert kinds["scheduler"] == 30
    assert kinds["task supervisor (airflow tasks run --local)"] == 10
    assert kinds["raw task (airflow tasks run --raw)"] == 10
    supervisor = summary["task supervisor (airflow tasks run --local)"]
    # line numbers dropped: one entry per function
    assert supervisor == {"execute (default.py)": 6, "connect (psycopg2)": 4}
    text = report(summary)
    assert "| scheduler | 30 | 60% |" in text
    assert "| `execute (default.py)` | 60% |" in text
