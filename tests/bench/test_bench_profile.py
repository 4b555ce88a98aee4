"""bench/profile.py's reading of py-spy's raw samples (no stack, no py-spy needed)."""

from __future__ import annotations

from bench.profile import (
    _LINE,
    API_SERVER,
    RUNNER_3,
    SUPERVISOR_3,
    TRIGGER_ROUTE,
    kind_of,
    kind_of_3,
    report,
    sampled_ms_per_call,
    summarise,
)

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


SCHED3 = 'process 20:"/venv/bin/python -m airflow scheduler"'
WORKER3 = 'process 21:"airflow worker -- LocalExecutor: <idle>"'
RUNNER3 = 'process 22:"airflow worker -- LocalExecutor: 01a2-task"'
LOGS3 = 'process 23:"airflow serve-logs"'
API3 = 'process 30:"gunicorn: worker [gunicorn]"'


def test_on_airflow_3_the_depth_under_the_scheduler_decides_the_kind() -> None:
    """A task runner starts with its worker's title: its depth tells it apart."""
    assert kind_of_3([SCHED3, WORKER3, RUNNER3, "f (x.py:1)"]) == RUNNER_3
    assert kind_of_3([SCHED3, WORKER3, "f (x.py:1)"]) == SUPERVISOR_3
    assert kind_of_3([SCHED3, LOGS3, "f (x.py:1)"]) == "other"
    assert kind_of_3([SCHED3, "f (x.py:1)"]) == "scheduler"
    assert kind_of_3(['process 31:"gunicorn: master [gunicorn]"', API3, "f (x.py:1)"]) == API_SERVER
    assert (
        kind_of_3(['process 32:"airflow api_server -- host:127.0.0.1"', "f (x.py:1)"]) == API_SERVER
    )


def test_api_routes_are_counted_inclusively() -> None:
    """Execution API, REST API and FAB's token route; a frame outside api_fastapi is none."""
    route = "ti_run (airflow/api_fastapi/execution_api/routes/task_instances.py:90)"
    trigger = "trigger_dag_run (airflow/api_fastapi/core_api/routes/public/dag_run.py:3)"
    token = "create_token (airflow/providers/fab/auth_manager/api_fastapi/routes/login.py:4)"
    raw = "\n".join(
        [
            f"{API3};run (uvicorn/server.py:1);{route};execute (sqlalchemy/engine.py:5) 7",
            f"{API3};run (uvicorn/server.py:1);{trigger};{trigger};create (dag.py:3) 5",
            f"{API3};run (uvicorn/server.py:1);{token};scrypt (werkzeug/security.py:1) 4",
            f"{API3};handle (other/routes/x.py:1) 1",
            f"{SCHED3};{WORKER3};{RUNNER3};parse (task_runner.py:9) 2",
        ]
    )
    summary = summarise(raw, airflow=3)
    assert summary[""] == {API_SERVER: 17, RUNNER_3: 2}
    # a recursive frame counts its samples once
    assert summary["routes"] == {
        _LINE.sub(")", f): n for f, n in ((route, 7), (trigger, 5), (token, 4))
    }
    assert "| `ti_run (airflow/api_fastapi/execution_api/routes/task_instances.py)` | 41% |" in (
        report(summary)
    )


def test_the_sampled_time_per_post_is_the_trigger_routes_samples_over_the_posts() -> None:
    trigger = "trigger_dag_run (airflow/api_fastapi/core_api/routes/public/dag_run.py:3)"
    summary = summarise(f"{API3};{trigger};create (dag.py:3) 80", airflow=3)
    # 80 samples at 50 Hz = 1.6 s over 100 POSTs
    assert sampled_ms_per_call(summary, TRIGGER_ROUTE, calls=100, rate=50) == 16.0
    assert sampled_ms_per_call(summary, "ti_run (", calls=100, rate=50) is None
