"""Where the copied package finds include/sql (plugins/rest_trigger_etl/sql_files.py) in the
layouts docs/deploy-existing-airflow.md names: Astro's (include/ beside plugins/) and MWAA's
(no include/ beside plugins/: it sits in the dags folder). A fresh interpreter imports the copy,
so the checkout's own include/ cannot be what it finds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rest_trigger_local.settings import PROJECT_DIR
from tests.dropin.stock_airflow import LAYOUTS, copy_product

PROBE = (
    "import json, sys; sys.path.insert(0, sys.argv[1]);"
    "import rest_trigger_etl.sql_files as s;"
    "print(json.dumps([s.__file__, str(s.SQL_DIR), s.load_sql('count_user_activity.sql')]))"
)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_copied_package_reads_the_copied_sql(tmp_path: Path, layout: str) -> None:
    home = tmp_path / "airflow"
    copy_product(home, layout)
    where = home / LAYOUTS[layout]["include"] / "sql"
    # -I: no user site, no PYTHONPATH; the copy is first on sys.path (as the plugins folder is
    # on Airflow's), ahead of the project's editable install.
    out = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(home / "plugins")],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    module, sql_dir, sql = json.loads(out)
    assert Path(module).is_relative_to(home / "plugins")
    assert Path(sql_dir) == where.resolve()
    assert sql == _without_comments(PROJECT_DIR / "include" / "sql" / "count_user_activity.sql")


def test_with_neither_folder_the_first_place_is_named(tmp_path: Path) -> None:
    package = PROJECT_DIR / "plugins" / "rest_trigger_etl"
    shutil.copytree(package, tmp_path / "p" / "rest_trigger_etl",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import rest_trigger_etl.sql_files as s;"
        "print(s.SQL_DIR); s.load_sql('count_user_activity.sql')"
    )
    done = subprocess.run([sys.executable, "-I", "-c", probe, str(tmp_path / "p")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == str((tmp_path / "include" / "sql").resolve())
    assert "FileNotFoundError" in done.stderr


def _without_comments(path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip()
