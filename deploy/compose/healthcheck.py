"""Cheap container healthchecks for the compose stack's triggerer, dag-processor and Celery workers.

``python -m deploy.compose.healthcheck triggerer``, ``... dag-processor`` (the Airflow 3
variant, docker-compose.airflow3.yaml) and ``... celery-worker``: exit 0 when healthy, 1 (with
the reason on stderr) when not.

Why not the stock commands: ``airflow jobs check`` and ``celery --app <airflow's app> inspect
ping`` each import Airflow, 1.7 and 1.2 CPU-seconds per check (measured in the stack). Every 10 s
that was 15 % of a core per triggerer and 12 % per worker, forever, and during start-up it
competed with the services it was checking: on a loaded 2-core machine the stack then took longer
to become healthy than its healthchecks allowed. These ask the same questions without Airflow:
0.05 and 0.4 CPU-seconds.

Depends on: Airflow's ``job`` table (``job_type``, ``state``, ``hostname``,
``latest_heartbeat``) and the job types ``TriggererJob`` / ``DagProcessorJob``, as
``airflow jobs check`` reads them. Guarded by tests/local/test_airflow_job_table.py.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys

# Airflow's own default for the triggerer ([triggerer] triggerer_health_check_threshold); the
# dag-processor heartbeats more often than that, so it serves for both.
TRIGGERER_THRESHOLD_SECONDS = 30


# The job types ``airflow jobs check --job-type`` takes, by the healthcheck's name for them.
JOB_TYPES = {"triggerer": "TriggererJob", "dag-processor": "DagProcessorJob"}


def job_alive(sql_alchemy_conn: str, job_type: str, hostname: str, threshold: int) -> bool:
    """What ``airflow jobs check --job-type T --hostname H`` asks: a running job of that type
    (TriggererJob; Airflow 3's DagProcessorJob) of this host with a heartbeat newer than the
    threshold."""
    import psycopg2

    url = sql_alchemy_conn.replace("postgresql+psycopg2://", "postgresql://", 1)
    with psycopg2.connect(url, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM job WHERE job_type = %s AND state = 'running'"
            " AND hostname = %s AND latest_heartbeat > now() - make_interval(secs => %s)",
            (job_type, hostname, threshold),
        )
        (alive,) = cur.fetchone()
    conn.close()
    return alive > 0


def celery_worker_answers(broker_url: str, hostname: str, timeout: float = 5.0) -> bool:
    """What ``celery inspect ping -d celery@H`` asks, through Celery's default app (Airflow's
    app uses the default control exchange, so the worker answers it): no Airflow import."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        return bool(app.control.ping([f"celery@{hostname}"], timeout=timeout))
    finally:
        app.close()


def airflow_setting(name: str) -> str:
    """A setting as Airflow reads it from the environment: ``NAME``, else the output of
    ``NAME_CMD`` (how the compose stack hands over secrets; never on a command line)."""
    if name in os.environ:
        return os.environ[name]
    command = shlex.split(os.environ[f"{name}_CMD"])
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=[*JOB_TYPES, "celery-worker"])
    args = parser.parse_args(argv)
    # The connection URLs come from the environment, never the command line (they hold passwords).
    hostname = os.environ.get("HOSTNAME") or socket.gethostname()
    if args.what in JOB_TYPES:
        ok = job_alive(
            airflow_setting("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
            JOB_TYPES[args.what],
            hostname,
            TRIGGERER_THRESHOLD_SECONDS,
        )
    else:
        ok = celery_worker_answers(airflow_setting("AIRFLOW__CELERY__BROKER_URL"), hostname)
    if not ok:
        sys.stderr.write(f"{args.what} on {hostname}: no answer\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
