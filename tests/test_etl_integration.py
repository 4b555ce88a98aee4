"""The query and the load on a real PostgreSQL, through redshift_connector and the relay."""

from __future__ import annotations

import datetime as dt

import pytest

from rest_trigger_etl.etl import count_activity, load_result, run_summary, total_from
from rest_trigger_etl.run_conf import RunRequest
from rest_trigger_local import warehouse as local_warehouse

pytestmark = pytest.mark.integration

REQUEST = RunRequest(gid=9, sid=3, date_start=dt.date(2024, 2, 1), date_end=dt.date(2024, 2, 29))
# (dim_user_id, dim_account_id, dim_site_id, message, activity_date)
ROWS = [
    (1, 100, 3, "in: first day", dt.date(2024, 2, 1)),
    (2, 100, 3, "in: last day", dt.date(2024, 2, 29)),
    (3, 101, 3, "in: second account of gid 9", dt.date(2024, 2, 10)),
    (4, 102, 3, "out: account of gid 8", dt.date(2024, 2, 10)),
    (5, 100, 4, "out: other site", dt.date(2024, 2, 10)),
    (6, 100, 3, "out: day before", dt.date(2024, 1, 31)),
    (7, 101, 3, "out: day after", dt.date(2024, 3, 1)),
    (8, 999, 3, "out: account with no dim row", dt.date(2024, 2, 10)),
]
ACCOUNTS = [(100, 9), (101, 9), (102, 8), (103, 9)]
EXPECTED_TOTAL = 3


@pytest.fixture
def known_rows(warehouse):
    conn = warehouse.psycopg_connect()
    local_warehouse.apply_schema(conn)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE fact_user_activity, dim_account, rest_trigger_results")
        cur.executemany("INSERT INTO dim_account VALUES (%s, %s)", ACCOUNTS)
        cur.executemany("INSERT INTO fact_user_activity VALUES (%s, %s, %s, %s, %s)", ROWS)
    conn.commit()
    yield conn
    conn.close()


def result_rows(conn, dag_run_id: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT gid, sid, date_start, date_end, total FROM rest_trigger_results"
            " WHERE dag_run_id = %s",
            (dag_run_id,),
        )
        rows = cur.fetchall()
    conn.rollback()
    return rows


def test_known_rows_give_the_known_total(warehouse, known_rows) -> None:
    conn = warehouse.redshift_connect()
    try:
        frame = count_activity(conn, REQUEST)
    finally:
        conn.close()
    assert list(frame.columns) == ["total"]
    assert total_from(frame) == EXPECTED_TOTAL


def test_hostile_string_is_bound_as_a_value_not_sql(warehouse, known_rows) -> None:
    """Even if a hostile string got past the Params, the driver binds it as a value."""
    hostile = RunRequest(
        gid=REQUEST.gid, sid=REQUEST.sid, date_start=REQUEST.date_start, date_end=REQUEST.date_end
    )
    object.__setattr__(hostile, "sid", "3 OR 1=1; DROP TABLE dim_account; --")
    conn = warehouse.redshift_connect()
    try:
        with pytest.raises(Exception, match=r"(?i)invalid input syntax|bigint"):
            count_activity(conn, hostile)
        conn.rollback()
    finally:
        conn.close()
    with known_rows.cursor() as cur:
        cur.execute("SELECT count(*) FROM dim_account")
        assert cur.fetchone()[0] == len(ACCOUNTS)


def test_same_run_id_twice_leaves_one_row(warehouse, known_rows) -> None:
    conn = warehouse.redshift_connect()
    try:
        load_result(conn, "run-twice", REQUEST, 3)
        load_result(conn, "run-twice", REQUEST, 5)  # a re-run that saw new data
    finally:
        conn.close()
    assert result_rows(known_rows, "run-twice") == [
        (9, 3, dt.date(2024, 2, 1), dt.date(2024, 2, 29), 5)
    ]


def test_failure_during_load_leaves_nothing_written(warehouse, known_rows) -> None:
    not_a_number = "lots"  # the server rejects it at INSERT, after the DELETE has run
    conn = warehouse.redshift_connect()
    try:
        with pytest.raises(Exception, match=r"(?i)invalid input syntax for type bigint"):
            load_result(conn, "fails-fresh", REQUEST, not_a_number)
        load_result(conn, "fails-rerun", REQUEST, 3)
        with pytest.raises(Exception, match=r"(?i)invalid input syntax for type bigint"):
            load_result(conn, "fails-rerun", REQUEST, not_a_number)
    finally:
        conn.close()
    assert result_rows(known_rows, "fails-fresh") == []
    # The failed re-run's DELETE was rolled back with its INSERT: the earlier row survives.
    assert [r[-1] for r in result_rows(known_rows, "fails-rerun")] == [3]


def test_summary_is_json_serialisable() -> None:
    import json

    summary = run_summary("r1", REQUEST, 3)
    assert json.loads(json.dumps(summary)) == {
        "dag_run_id": "r1",
        "gid": 9,
        "sid": 3,
        "date_start": "2024-02-01",
        "date_end": "2024-02-29",
        "total": 3,
    }


def test_demo_seed_is_deterministic(warehouse) -> None:
    conn = warehouse.psycopg_connect()
    try:
        sums = []
        for _ in range(2):
            local_warehouse.seed(conn, rows=2000, accounts=50)
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*), sum(dim_account_id), sum(dim_site_id),"
                    " sum(activity_date - DATE '2024-01-01') FROM fact_user_activity"
                )
                sums.append(cur.fetchone())
            conn.commit()
        assert sums[0] == sums[1]
        assert sums[0][0] == 2000
        assert local_warehouse.prepare(conn, rows=2000, accounts=50) is False  # already seeded
    finally:
        conn.close()
