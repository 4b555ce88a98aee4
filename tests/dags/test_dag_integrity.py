"""DAG integrity: it imports cleanly, has no cycles, touches no database while parsing, imports
nothing heavy at module top, and follows the project's policy."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.models import DagBag

from rest_trigger_etl import names
from rest_trigger_etl.names import DAG_ID, MAIN_ETL, PUSHER
from rest_trigger_etl.run_conf import PARAM_SPECS
from rest_trigger_local.settings import PROJECT_DIR
from tests.support.probe import python_probe

DAGS = PROJECT_DIR / "dags"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS), include_examples=False)


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags[DAG_ID]


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_one_dag_per_file(dagbag) -> None:
    assert sorted(dagbag.dag_ids) == [DAG_ID]
    assert sorted(p.name for p in DAGS.glob("*.py")) == ["rest_trigger.py"]


def test_no_cycles(dag) -> None:
    from airflow.utils.dag_cycle_tester import check_cycle

    check_cycle(dag)  # raises AirflowDagCycleException on a cycle
    assert dag.topological_sort()


def test_shape_is_pusher_then_main_etl(dag) -> None:
    """Two tasks, both load-bearing: main_etl counts for the gid pusher hands over by XCom."""
    assert sorted(dag.task_ids) == sorted(names.TASK_IDS)
    assert dag.get_task(PUSHER).upstream_task_ids == set()
    assert dag.get_task(MAIN_ETL).upstream_task_ids == {PUSHER}
    assert dag.get_task(MAIN_ETL).downstream_task_ids == set()
    assert tuple(t.task_id for t in dag.topological_sort()) == names.TASK_IDS
    # main_etl's summary is one XCom (return_value), not one more per key of the dict.
    assert dag.get_task(MAIN_ETL).multiple_outputs is False


def test_shared_names_are_the_callers_contract() -> None:
    """Callers spell these in URLs and scripts (README, docs/client.md); everything in the
    project imports them from rest_trigger_etl/names.py, so this is where a rename shows."""
    assert names.DAG_ID == "rest-trigger"
    assert names.TASK_IDS == ("pusher", "main_etl")
    assert names.GLOBAL_ID_KEY == "global_id"
    assert list(names.DEMO_CONF) == list(PARAM_SPECS)


def test_policy(dag) -> None:
    assert dag.schedule_interval is None
    assert dag.catchup is False
    assert dag.is_paused_upon_creation is False
    assert dag.tags and "rest-api" in dag.tags
    assert dag.doc_md and DAG_ID in dag.doc_md
    for task in dag.tasks:
        assert task.owner not in ("", "airflow"), task.task_id
        assert task.retries == 1, task.task_id
        assert task.retry_delay <= dt.timedelta(minutes=1), task.task_id


def test_every_param_is_typed_described_and_required(dag) -> None:
    assert set(dag.params) == {"gid", "sid", "date_start", "date_end"}
    for name in dag.params:
        param = dag.params.get_param(name)
        assert param.schema.get("type") in ("integer", "string"), name
        assert param.description, name
        assert not param.has_value, f"{name} has a default; it must be required"


@pytest.fixture(scope="module")
def parse_probe() -> dict:
    """rest_trigger_local.parse_probe (the benchmark's parse probe too) in a fresh interpreter:
    parsing the DAG file with nothing imported yet."""
    return python_probe("from rest_trigger_local.parse_probe import main\nmain()")


def test_zero_database_queries_while_parsing(parse_probe) -> None:
    # The listener did see the parse happen: it found the DAG.
    assert parse_probe["dags"] == [DAG_ID], parse_probe["import_errors"]
    assert parse_probe["db_queries"] == 0, parse_probe["queries"]


def test_parse_imports_no_pandas_or_driver(parse_probe) -> None:
    """pandas and the drivers are imported by the task that runs, never by the parse."""
    heavy = {"pandas", "redshift_connector", "psycopg2", "boto3"}
    imported = {name.split(".")[0] for name in parse_probe["new_modules"]}
    assert sorted(imported & heavy) == []


def test_plugins_load_without_errors() -> None:
    from airflow import plugins_manager

    plugins_manager.ensure_plugins_loaded()
    assert plugins_manager.import_errors == {}
    assert "rest_trigger" in [p.name for p in plugins_manager.plugins or []]
