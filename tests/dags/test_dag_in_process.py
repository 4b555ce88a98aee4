"""The DAG's wiring run in-process with ``dag.test()`` (no scheduler, no webserver) against a
real PostgreSQL warehouse through redshift_connector: pusher hands gid to main_etl by XCom."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.models import DagBag, XCom

from rest_trigger_etl.names import DAG_ID, GLOBAL_ID_KEY, MAIN_ETL, PUSHER
from rest_trigger_local.settings import PROJECT_DIR
from tests.support import activity_rows
from tests.support.activity_rows import CONF, FEB_1, FEB_29, GID, SITE, expected_total
from tests.support.databases import Warehouse
from warehouse_standin import seed as local_warehouse
from warehouse_standin.connection import ENV_VAR, connection_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.utils import db

    db.initdb()  # the tests' throwaway SQLite metadata DB (conftest)
    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"), include_examples=False)
    return bag.dags[DAG_ID]


@pytest.fixture
def warehouse_conn(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Any:
    conn = warehouse.psycopg_connect()
    local_warehouse.apply_schema(conn)
    activity_rows.insert(conn, replace_all=True)
    monkeypatch.setenv(
        ENV_VAR,
        connection_json(
            warehouse.host, warehouse.port, warehouse.database, warehouse.user,
            warehouse.password,
        ),
    )  # fmt: skip
    yield conn
    conn.close()


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    return XCom.get_one(run_id=run.run_id, dag_id=run.dag_id, task_id=task_id, key=key)


def test_main_etl_counts_for_the_gid_pusher_pushed(dag, warehouse_conn) -> None:
    run = dag.test(run_conf=CONF)
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {PUSHER: "success", MAIN_ETL: "success"}
    assert xcom(run, PUSHER, GLOBAL_ID_KEY) == GID
    assert xcom(run, PUSHER) is None  # pusher's only output is the hand-off
    total = expected_total(GID, SITE, FEB_1, FEB_29)
    assert xcom(run, MAIN_ETL) == {"dag_run_id": run.run_id, **CONF, "total": total}
    pushed = XCom.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=MAIN_ETL)
    keys = {x.key for x in pushed}
    assert keys == {"return_value"}  # the summary once, not also one XCom per key
    with warehouse_conn.cursor() as cur:
        cur.execute(
            "SELECT gid, total FROM rest_trigger_results WHERE dag_run_id = %s", (run.run_id,)
        )
        assert cur.fetchall() == [(GID, total)]
    warehouse_conn.rollback()


def test_bad_conf_fails_pusher_and_main_etl_never_runs(dag, warehouse_conn) -> None:
    run = dag.test(run_conf={**CONF, "date_start": "2024-03-01", "date_end": "2024-02-01"})
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {PUSHER: "failed", MAIN_ETL: "upstream_failed"}
    assert xcom(run, PUSHER, GLOBAL_ID_KEY) is None
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM rest_trigger_results")
        assert cur.fetchone()[0] == 0
    warehouse_conn.rollback()
