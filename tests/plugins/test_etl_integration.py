"""The query and the load on a real PostgreSQL, through redshift_connector and the relay."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from rest_trigger_etl.etl import count_activity, load_result, run_summary, total_from
from rest_trigger_etl.run_conf import RunRequest
from rest_trigger_local.settings import PROJECT_DIR
from tests.support import activity_rows
from tests.support.activity_rows import (
    FEB_1,
    FEB_29,
    GID,
    MESSAGES,
    OTHER_GID,
    OTHER_SITE,
    ROWS,
    SITE,
    expected_total,
)
from warehouse_standin import seed as local_warehouse

pytestmark = pytest.mark.integration

REQUEST = RunRequest(gid=GID, sid=SITE, date_start=FEB_1, date_end=FEB_29)


def expected(request: RunRequest) -> int:
    return expected_total(request.gid, request.sid, request.date_start, request.date_end)


def test_the_known_rows_hold_what_the_count_leaves_out() -> None:
    # Three days x the four counted kinds; everything else at the site is left out.
    assert expected(REQUEST) == 3 * 4
    assert sum(1 for row in ROWS if row[2] == SITE) == len(MESSAGES) * 3 + 7


@pytest.fixture
def known_rows(warehouse):
    conn = warehouse.psycopg_connect()
    local_warehouse.apply_schema(conn)
    activity_rows.insert(conn, replace_all=True)
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
    assert total_from(frame) == expected(REQUEST)


@pytest.mark.parametrize(
    "request_",
    [
        RunRequest(gid=GID, sid=SITE, date_start=FEB_1, date_end=FEB_1),  # one boundary day
        RunRequest(gid=GID, sid=SITE, date_start=FEB_29, date_end=dt.date(2024, 3, 1)),
        RunRequest(gid=OTHER_GID, sid=SITE, date_start=FEB_1, date_end=FEB_29),
        RunRequest(gid=GID, sid=OTHER_SITE, date_start=FEB_1, date_end=FEB_29),  # the other site
        RunRequest(GID, SITE, dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        RunRequest(gid=77, sid=SITE, date_start=FEB_1, date_end=FEB_29),  # no such global id
    ],
    ids=["first-day", "last-day-and-after", "other-gid", "other-site", "whole-year", "no-gid"],
)
def test_every_slice_matches_the_independent_count(warehouse, known_rows, request_) -> None:
    conn = warehouse.redshift_connect()
    try:
        assert total_from(count_activity(conn, request_)) == expected(request_)
    finally:
        conn.close()


def test_driver_binds_dates_and_timestamps_typed(warehouse) -> None:
    """What etl.py relies on to pass no CAST: redshift_connector sends a datetime.date as a DATE
    parameter and a naive datetime as a TIMESTAMP one, and the server receives exactly them."""
    day = dt.date(2024, 2, 29)
    moment = dt.datetime(2024, 2, 29, 23, 59, 59, 123456)
    conn = warehouse.redshift_connect()
    try:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT pg_typeof(%s)::text, pg_typeof(%s)::text,"
            " %s = DATE '2024-02-29', %s = TIMESTAMP '2024-02-29 23:59:59.123456'",
            (day, moment, day, moment),
        )
        assert list(cursor.fetchone()) == ["date", "timestamp without time zone", True, True]
        cursor.close()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("date_start", "date_end", "total"),
    [
        (dt.date(2024, 1, 31), dt.date(2024, 1, 31), 1),  # only the day before
        (FEB_1, FEB_1, 4),  # the first day alone: inclusive at the start
        (dt.date(2024, 2, 2), dt.date(2024, 2, 28), 4),  # both boundary days left out
        (FEB_29, FEB_29, 4),  # the last day alone: inclusive at the end
        (dt.date(2024, 3, 1), dt.date(2024, 3, 1), 1),  # only the day after
        (dt.date(2024, 1, 31), dt.date(2024, 3, 1), 14),  # one day past each end
    ],
    ids=["jan31", "feb1", "feb2-feb28", "feb29", "mar1", "jan31-mar1"],
)
def test_date_parameters_compare_as_dates_at_the_range_edges(
    warehouse, known_rows, date_start, date_end, total
) -> None:
    request = RunRequest(gid=GID, sid=SITE, date_start=date_start, date_end=date_end)
    assert expected(request) == total  # the test's own count agrees with the figure above
    conn = warehouse.redshift_connect()
    try:
        assert total_from(count_activity(conn, request)) == total
    finally:
        conn.close()


def test_no_match_is_still_one_row_with_total_zero(warehouse, known_rows) -> None:
    """The invariant count_activity relies on (no fallback for an empty result): the aggregate
    always returns one row."""
    nothing = RunRequest(GID, SITE, dt.date(2023, 1, 1), dt.date(2023, 1, 2))
    conn = warehouse.redshift_connect()
    try:
        frame = count_activity(conn, nothing)
    finally:
        conn.close()
    assert frame.shape == (1, 1) and total_from(frame) == 0


def test_load_writes_the_dates_and_loaded_at_as_given(warehouse, known_rows) -> None:
    loaded_at = dt.datetime(2024, 3, 1, 0, 0, 0, 1)
    conn = warehouse.redshift_connect()
    try:
        load_result(conn, "typed-values", REQUEST, 12, loaded_at=loaded_at)
    finally:
        conn.close()
    with known_rows.cursor() as cur:
        cur.execute(
            "SELECT date_start, date_end, loaded_at FROM rest_trigger_results"
            " WHERE dag_run_id = 'typed-values'"
        )
        assert cur.fetchall() == [(FEB_1, FEB_29, loaded_at)]
    known_rows.rollback()


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
        assert cur.fetchone()[0] == len(activity_rows.ACCOUNTS)


def test_same_run_id_twice_leaves_one_row(warehouse, known_rows) -> None:
    conn = warehouse.redshift_connect()
    try:
        load_result(conn, "run-twice", REQUEST, 3)
        load_result(conn, "run-twice", REQUEST, 5)  # a re-run that saw new data
    finally:
        conn.close()
    assert result_rows(known_rows, "run-twice") == [(GID, SITE, FEB_1, FEB_29, 5)]


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
        "gid": GID,
        "sid": SITE,
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
        with conn.cursor() as cur:  # as left by an older seed file
            cur.execute("UPDATE demo_data_info SET seed_digest = 'older'")
        conn.commit()
        assert local_warehouse.prepare(conn, rows=2000, accounts=50) is True
    finally:
        conn.close()


def test_demo_data_has_every_message_kind_and_rows_with_no_user(warehouse) -> None:
    conn = warehouse.psycopg_connect()
    try:
        local_warehouse.seed(conn, rows=20000, accounts=50)
        with conn.cursor() as cur:
            cur.execute("SELECT message, count(*) FROM fact_user_activity GROUP BY message")
            shares = {message: n / 20000 for message, n in cur.fetchall()}
            cur.execute("SELECT count(*) FROM fact_user_activity WHERE dim_user_id IS NULL")
            no_user = cur.fetchone()[0] / 20000
        conn.rollback()
    finally:
        conn.close()
    assert set(shares) == set(MESSAGES)
    # Membership events are a minority, but enough to move every example's total.
    assert 0.04 < shares["JOINED"] < 0.08 and 0.02 < shares["LEFT"] < 0.06, shares
    assert 0.01 < no_user < 0.03, no_user


def test_the_readmes_example_total_is_what_the_default_demo_data_gives(warehouse) -> None:
    """README.md quotes the example's total; it must be what `make run`'s demo data gives,
    counted here by the test's own arithmetic over the raw rows."""
    readme = (PROJECT_DIR / "README.md").read_text()
    quoted = {int(n) for n in re.findall(r'"gid": 42, "sid": 7, [^}]*"total": (\d+)\}', readme)}
    assert len(quoted) == 1, quoted
    conn = warehouse.psycopg_connect()
    try:
        local_warehouse.apply_schema(conn)  # on its own it may be the first test to run
        local_warehouse.seed(conn)  # the defaults make run seeds
        with conn.cursor() as cur:
            cur.execute(
                "SELECT a.dim_user_id, a.message, a.activity_date FROM fact_user_activity a"
                " WHERE a.dim_site_id = 7 AND a.dim_account_id IN"
                " (SELECT dim_account_id FROM dim_account WHERE global_id = 42)"
            )
            rows = cur.fetchall()
        conn.rollback()
    finally:
        conn.close()
    counted = sum(
        1
        for user, message, day in rows
        if user is not None
        and message not in (None, *activity_rows.EXCLUDED)
        and dt.date(2024, 1, 1) <= day <= dt.date(2024, 3, 31)
    )
    assert quoted == {counted}
