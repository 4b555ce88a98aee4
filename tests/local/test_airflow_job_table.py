"""The guard on what the local stack and the compose healthchecks read and write in Airflow's
``job`` table behind Airflow's back (rest_trigger_local/airflow_internals.py,
deploy/compose/healthcheck.py): the table, its columns, the job types and the states are still
Airflow's, on 2.11 and 3.x. Fails when an upgrade renames any of them."""

from __future__ import annotations

from deploy.compose.healthcheck import JOB_TYPES
from rest_trigger_local.airflow_internals import SCHEDULER_JOB
from tests.support.probe import on_both_airflows, python_probe

PROBE = """
import json
from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.jobs.triggerer_job_runner import TriggererJobRunner
from airflow.utils.state import JobState
try:
    from airflow.jobs.dag_processor_job_runner import DagProcessorJobRunner
    dag_processor = DagProcessorJobRunner.job_type
except ImportError:
    dag_processor = None
print(json.dumps({
    "table": Job.__tablename__,
    "columns": sorted(c.name for c in Job.__table__.columns),
    "types": [SchedulerJobRunner.job_type, TriggererJobRunner.job_type, dag_processor],
    "states": [JobState.RUNNING.value, JobState.FAILED.value],
}))
"""


@on_both_airflows()
def test_the_job_table_is_what_the_stack_reads_and_writes(python: str) -> None:
    found = python_probe(PROBE, python=python)
    assert found["table"] == "job"
    read_and_written = {"job_type", "state", "end_date", "hostname", "latest_heartbeat"}
    assert read_and_written <= set(found["columns"]), found["columns"]
    scheduler, triggerer, dag_processor = found["types"]
    assert scheduler == SCHEDULER_JOB
    assert triggerer == JOB_TYPES["triggerer"]
    assert dag_processor == JOB_TYPES["dag-processor"]
    assert found["states"] == ["running", "failed"]
