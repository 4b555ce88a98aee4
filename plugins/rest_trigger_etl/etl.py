"""The query and the load, on any DB-API connection with the ``format`` paramstyle
(redshift_connector in Airflow; the tests use the same driver against PostgreSQL)."""

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
            (
                request.gid,
                request.sid,
                request.date_start.isoformat(),
                request.date_end.isoformat(),
            ),
        )
        frame = cursor.fetch_dataframe() if hasattr(cursor, "fetch_dataframe") else None
        if frame is None:  # drivers without fetch_dataframe, or an empty result
            import pandas as pd

            rows = cursor.fetchall()
            frame = pd.DataFrame(rows, columns=[c[0] for c in cursor.description])
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
    it was."""
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
                request.date_start.isoformat(),
                request.date_end.isoformat(),
                total,
                loaded_at.isoformat(sep=" "),
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
