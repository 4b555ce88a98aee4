"""SQL text from ``include/sql/``, found relative to this package (works in a checkout and in
the container, where both sit under /opt/airflow)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"


@cache
def load_sql(name: str) -> str:
    """The statement in ``include/sql/<name>`` without its comment lines (a comment that mentions
    a %s placeholder would otherwise be counted by the driver)."""
    path = (SQL_DIR / name).resolve()
    if SQL_DIR not in path.parents:
        raise ValueError(f"{name!r} is outside {SQL_DIR}")
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip()
