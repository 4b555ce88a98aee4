"""What both compose tests share beside the driver (compose_stack.py): the project copied as a
fresh clone holds it, and the warehouse read through the published relay port, with the
article's count by the tests' own arithmetic."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg2

from rest_trigger_local.settings import PROJECT_DIR
from tests.support.activity_rows import EXCLUDED
from tests.support.compose_stack import ComposeProject


def copy_project(target: Path) -> None:
    """What a fresh clone holds: the tracked files (plus new ones not ignored), nothing else."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_DIR / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def warehouse(project: ComposeProject) -> psycopg2.extensions.connection:
    """The warehouse through the relay's published port, as docs/docker.md's psql reaches it."""
    return psycopg2.connect(
        host="127.0.0.1", port=int(project.setting("WAREHOUSE_PORT", "5439")),
        dbname=project.setting("WAREHOUSE_DB", "dev"),
        user=project.setting("WAREHOUSE_USER", "warehouse"),
        password=project.setting("WAREHOUSE_PASSWORD", "warehouse"),
    )  # fmt: skip


def expected_total(project: ComposeProject, conf: dict[str, object]) -> int:
    """The article's count by the test's own arithmetic, not the DAG's SQL file: the site's raw
    rows for the global id's accounts, counted in Python within the inclusive dates, leaving out
    rows with no user and the JOINED/LEFT membership events (and, as NOT IN does, no message)."""
    with warehouse(project) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT f.dim_user_id, f.message, f.activity_date::text FROM fact_user_activity f"
            " WHERE f.dim_site_id = %s AND EXISTS (SELECT 1 FROM dim_account d"
            "   WHERE d.dim_account_id = f.dim_account_id AND d.global_id = %s)",
            (conf["sid"], conf["gid"]),
        )
        rows = cur.fetchall()
    start, end = str(conf["date_start"]), str(conf["date_end"])
    return sum(
        1
        for user, message, day in rows
        if user is not None and message not in (None, *EXCLUDED) and start <= day <= end
    )
