"""The query and the load, on a redshift_connector connection (Airflow's ``RedshiftSQLHook``;
the tests use the same driver against PostgreSQL), ``format`` paramstyle.

Values travel typed: the driver binds a ``datetime.date`` as DATE (oid 1082) and a naive
``datetime.datetime`` as TIMESTAMP (oid 1114), so the SQL takes them as they are, with no
text round trip and no CAST (tests/plugins/test_etl_integration.py checks what the server
receives)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from rest_trigger_etl.run_conf import RunRequest
from rest_trigger_etl.sql_files import load_sql

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def _execute(cursor: Any, name: str, parameters: tuple[Any, ...]) -> None:
    sql = load_sql(name)
    # The SQL and its values are logged apart because they travel apart: values are bound by
    # the driver, never spliced into the statement text.
    log.info("SQL %s:\n%s\nparameters: %r", name, sql, parameters)
    cursor.execute(sql, parameters)


def count_activity(conn: Any, request: RunRequest) -> pd.DataFrame:
    """Run the aggregate in the warehouse; the DataFrame holds one row, never the facts."""
    cursor = conn.cursor()
    try:
        _execute(
            cursor,
            "count_user_activity.sql",
            (request.gid, request.sid, request.date_start, request.date_end),
        )
        # redshift_connector's fetch_dataframe (2.2, the locks' pin) always returns a DataFrame
        # built from fetchall(), never None, even for no rows. And an aggregate with no GROUP BY
        # returns exactly one row, also when nothing matches (total 0); total_from checks it.
        frame = cursor.fetch_dataframe()
    finally:
        cursor.close()
    return frame


def total_from(frame: pd.DataFrame) -> int:
    if len(frame.index) != 1 or "total" not in frame.columns:
        raise ValueError(f"expected one row with a 'total' column, got {frame.shape}")
    return int(frame["total"].iloc[0])


def load_result(
    conn: Any,
    dag_run_id: str,
    request: RunRequest,
    total: int,
    loaded_at: dt.datetime | None = None,
) -> None:
    """Write this run's one result row: delete-then-insert in one transaction, so a retry or
    a re-run of the same dag_run_id leaves exactly one row, and a failure leaves the table as
    it was. ``loaded_at`` is naive UTC (bound as TIMESTAMP, the column's type)."""
    loaded_at = loaded_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cursor = conn.cursor()
    try:
        _execute(cursor, "delete_result.sql", (dag_run_id,))
        _execute(
            cursor,
            "insert_result.sql",
            (
                dag_run_id,
                request.gid,
                request.sid,
                request.date_start,
                request.date_end,
                total,
                loaded_at,
            ),
        )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        cursor.close()


def run_summary(dag_run_id: str, request: RunRequest, total: int) -> dict[str, Any]:
    """The small JSON value main_etl returns (read from its return_value XCom)."""
    return {"dag_run_id": dag_run_id, **request.as_json(), "total": total}
