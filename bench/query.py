"""The count query alone: its text as main_etl sends it, the total it gives, and its time through
the production driver and the relay, with the plan PostgreSQL chose."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bench.stack import Stack
from rest_trigger_etl.names import DEMO_CONF as CONF
from rest_trigger_etl.sql_files import load_sql


def count_params(conf: dict[str, Any]) -> tuple[Any, ...]:
    """A conf's bound values in the SQL file's placeholder order, typed as main_etl binds them
    (the dates as ``datetime.date``)."""
    day = dt.date.fromisoformat
    return (conf["gid"], conf["sid"], day(conf["date_start"]), day(conf["date_end"]))


# The count query's bound values for the demo conf.
COUNT_PARAMS = count_params(CONF)


def count_sql() -> str:
    """main_etl's query text, exactly as it gives it to the driver."""
    return load_sql("count_user_activity.sql")


def expected_total(stack: Stack, conf: dict[str, Any] = CONF) -> int:
    sql = count_sql()
    conn = stack.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, count_params(conf))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def time_query(stack: Stack, sql: str, params: tuple[Any, ...], n: int) -> tuple[list[float], Any]:
    """The count query through redshift_connector and the relay, as main_etl sends it; and the
    plan PostgreSQL chose (EXPLAIN ANALYZE via psycopg2)."""
    import redshift_connector

    s = stack.settings  # the launcher's own: the warehouse it created
    conn = redshift_connector.connect(
        host="127.0.0.1", port=s.warehouse_port, database=s.warehouse_db,
        user=s.warehouse_user, password=s.warehouse_password, ssl=False,
    )  # fmt: skip
    times = []
    try:
        cursor = conn.cursor()
        for _ in range(n):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetch_dataframe()
            times.append(time.perf_counter() - started)
        conn.rollback()
    finally:
        conn.close()
    pg = stack.warehouse()
    try:
        with pg.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cur.fetchone()[0][0]
    finally:
        pg.close()
    return times, plan_summary(plan)


def plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" on {node['Index Name']}"
        elif "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        label += f" (rows={node.get('Actual Rows')}, loops={node.get('Actual Loops')})"
        nodes.append(label)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    top = plan["Plan"]
    return {
        "execution_ms": plan.get("Execution Time"),
        "shared_hit_blocks": top.get("Shared Hit Blocks"),
        "shared_read_blocks": top.get("Shared Read Blocks"),
        "nodes": nodes,
    }
