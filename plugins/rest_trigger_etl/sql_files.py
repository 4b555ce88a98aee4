"""SQL text from ``include/sql/``, found relative to this package (works in a checkout and in
the container, where both sit under /opt/airflow, and on Astro, where they sit under
$AIRFLOW_HOME). Where there is no ``include/`` beside ``plugins/`` (MWAA: it syncs only dags/
and unpacks plugins.zip into $AIRFLOW_HOME/plugins, so include/ goes under dags/), the dags
folder's ``include/sql`` beside it is read instead (docs/deploy-existing-airflow.md)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds plugins/ (and dags/)
# Where include/sql may be, in order: beside plugins/ (checkout, container, Astro), then inside
# the dags folder beside it (MWAA). The first that exists wins; the first if neither does.
SQL_DIR_CANDIDATES = (_ROOT / "include" / "sql", _ROOT / "dags" / "include" / "sql")
SQL_DIR = next((d for d in SQL_DIR_CANDIDATES if d.is_dir()), SQL_DIR_CANDIDATES[0])


@cache
def load_sql(name: str) -> str:
    """The statement in ``include/sql/<name>`` without its comment lines (a comment that mentions
    a %s placeholder would otherwise be counted by the driver)."""
    path = (SQL_DIR / name).resolve()
    if SQL_DIR not in path.parents:
        raise ValueError(f"{name!r} is outside {SQL_DIR}")
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip()
