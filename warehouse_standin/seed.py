"""Create the local warehouse's tables and seed its deterministic demo data (once).

Used by ``make run`` against the embedded server and by the compose stack's ``airflow-init``
against its warehouse container: ``python -m warehouse_standin.seed --help``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).resolve().parents[1] / "include" / "sql" / "local"
DEFAULT_ROWS = 1_000_000
DEFAULT_ACCOUNTS = 1_000

log = logging.getLogger(__name__)


def apply_schema(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute((SQL_DIR / "schema.sql").read_text())
    conn.commit()


def seed_digest() -> str:
    """Names the demo data set's definition: a changed seed file means different rows."""
    return hashlib.sha256((SQL_DIR / "seed_demo_data.sql").read_bytes()).hexdigest()


def seeded_set(conn: Any) -> tuple[int, int, str | None] | None:
    """(rows, accounts, seed digest) of the loaded demo data, or None."""
    with conn.cursor() as cur:
        cur.execute("SELECT activity_rows, accounts, seed_digest FROM demo_data_info LIMIT 1")
        row = cur.fetchone()
    conn.rollback()
    return (int(row[0]), int(row[1]), row[2]) if row else None


def seed(conn: Any, rows: int = DEFAULT_ROWS, accounts: int = DEFAULT_ACCOUNTS) -> None:
    """Replace the demo data with the set for (rows, accounts), in one transaction."""
    if rows < 0 or accounts < 1:
        raise ValueError("rows must be >= 0 and accounts >= 1")
    with conn.cursor() as cur:
        cur.execute(
            (SQL_DIR / "seed_demo_data.sql").read_text(),
            {"rows": rows, "accounts": accounts, "digest": seed_digest()},
        )
    conn.commit()


def prepare(conn: Any, rows: int = DEFAULT_ROWS, accounts: int = DEFAULT_ACCOUNTS) -> bool:
    """Schema always (idempotent), seed only when the loaded set differs in size or in the seed
    file that made it. True if it seeded."""
    apply_schema(conn)
    if seeded_set(conn) == (rows, accounts, seed_digest()):
        return False
    log.info("seeding %s activity rows over %s accounts", rows, accounts)
    seed(conn, rows, accounts)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("WAREHOUSE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WAREHOUSE_PORT", "5439")))
    parser.add_argument("--dbname", default=os.environ.get("WAREHOUSE_DB", "dev"))
    parser.add_argument("--user", default=os.environ.get("WAREHOUSE_USER", "warehouse"))
    parser.add_argument("--rows", type=int, default=int(os.environ.get("DEMO_ROWS", DEFAULT_ROWS)))
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import psycopg2

    conn = psycopg2.connect(
        host=args.host, port=args.port, dbname=args.dbname, user=args.user,
        password=os.environ.get("WAREHOUSE_PASSWORD", "warehouse"),
    )  # fmt: skip
    seeded = prepare(conn, args.rows, args.accounts)
    log.info("warehouse ready (%s)", "seeded now" if seeded else "demo data already present")
    conn.close()


if __name__ == "__main__":
    main()
