"""What the local stack does to Airflow's metadata database behind Airflow's back.

Depends on: the ``job`` table (columns ``job_type``, ``state``, ``end_date``), the job type
``SchedulerJob`` and the states ``running`` / ``failed``, and on a new scheduler adopting the
task instances of a scheduler job that is no longer running (``adopt_or_reset_orphaned_tasks``
at its start). Guarded, on 2.11 and 3.x, by tests/local/test_airflow_job_table.py (which also
guards deploy/compose/healthcheck.py's reading of the same table).
"""

from __future__ import annotations

SCHEDULER_JOB = "SchedulerJob"


def fail_running_scheduler_jobs(sql_alchemy_conn: str) -> None:
    """Mark every running scheduler job failed, as Airflow itself does only once its heartbeat
    is scheduler_health_check_threshold old: the new scheduler then re-queues the dead one's
    task instances as it starts, not after orphaned_tasks_check_interval (5 min). Only for a
    scheduler the caller knows is dead (the launcher's own child, after it exited)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(sql_alchemy_conn)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE job SET state = 'failed', end_date = now()"
                    " WHERE job_type = :job_type AND state = 'running'"
                ),
                {"job_type": SCHEDULER_JOB},
            )
    finally:
        engine.dispose()
