"""Run in a fresh process: the floor under a run, i.e. the useful work alone. ``dag.test()`` runs
``pusher`` then ``main_etl`` in this process (no scheduler, executor, forks or API) against the
stack's warehouse, on a throwaway SQLite metadata database so the stack's scheduler never sees
these runs. Prints one JSON line: per-task run times and the whole dag.test(), wall and CPU.

Usage: python -m bench.floor_probe RUNS  (with the stack's AIRFLOW_CONN_REDSHIFT_DEFAULT)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time

from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL, PUSHER


def _task_seconds(run_id: str, started: dt.datetime) -> dict[str, float]:
    """Each task's time, from the task instances' end dates read back from the metadata database
    (dag.test() runs the tasks one after the other and leaves their start_date unset): pusher
    from the start of dag.test() to its end, main_etl from pusher's end to its own."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.run_id == run_id).all()
        ends = {ti.task_id: ti.end_date for ti in tis}
    return {
        PUSHER: (ends[PUSHER] - started).total_seconds(),
        MAIN_ETL: (ends[MAIN_ETL] - ends[PUSHER]).total_seconds(),
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    folder = tempfile.mkdtemp(prefix="rest-trigger-floor-")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{folder}/airflow.db"
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"
    from airflow.models import DagBag
    from airflow.utils import db

    db.initdb()
    dags_folder = os.path.join(os.environ["REST_TRIGGER_HOME"], "dags")
    dag = DagBag(dag_folder=dags_folder, include_examples=False).dags[DAG_ID]
    rows = []
    for i in range(runs + 1):  # the first one pays the imports: left out
        started = dt.datetime.now(dt.UTC)
        wall, cpu = time.perf_counter(), time.process_time()
        run = dag.test(run_conf=DEMO_CONF)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if run.state != "success":
            raise SystemExit(f"dag.test() ended {run.state}")
        tasks = _task_seconds(run.run_id, started)
        if i:
            rows.append({"dag_test_s": wall, "dag_test_cpu_s": cpu, **tasks})
    sys.stdout.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
