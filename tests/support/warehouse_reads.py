"""What a running stack's warehouse holds, read with psycopg2 (not the project's driver or SQL):
the article's count by the tests' own arithmetic over the raw rows, and the result rows a run
loaded. Shared by the 2.11 and the Airflow 3 end-to-end tests."""

from __future__ import annotations

from tests.support import activity_rows
from tests.support.harness import Stack


def independent_count(stack: Stack, gid: int, sid: int, start: str, end: str) -> int:
    """The article's count by the test's own arithmetic: the site's raw rows for the gid's
    accounts, read with psycopg2, filtered and counted in Python (not the project's SQL)."""
    conn = stack.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT dim_account_id FROM dim_account WHERE global_id = %s", (gid,))
            accounts = [row[0] for row in cur.fetchall()]
            cur.execute(
                "SELECT dim_user_id, message, activity_date::text FROM fact_user_activity"
                " WHERE dim_site_id = %s AND dim_account_id = ANY(%s)",
                (sid, accounts),
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    return sum(
        1
        for user, message, day in rows
        if user is not None
        and message is not None
        and message not in activity_rows.EXCLUDED
        and start <= day <= end
    )


def results_rows(stack: Stack, run_id: str) -> list[tuple]:
    conn = stack.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT gid, sid, date_start::text, date_end::text, total"
                " FROM rest_trigger_results WHERE dag_run_id = %s",
                (run_id,),
            )
            return cur.fetchall()
    finally:
        conn.close()
