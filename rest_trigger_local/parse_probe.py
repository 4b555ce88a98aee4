"""The DAG-parse probe: what parsing dags/rest_trigger.py costs, whether it touches the metadata
database, and which modules it imports. The tests (tests/dags/test_dag_integrity.py) and the
benchmark's parse section both run it.

Run it in a fresh process, so that nothing is imported yet: ``python -m
rest_trigger_local.parse_probe [DAG_FILE]`` (the DAG file in Airflow's dags_folder by default,
with the Airflow configuration of the environment). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time


def main() -> None:
    started = time.perf_counter()
    import airflow  # noqa: F401
    from airflow import settings
    from airflow.models.dagbag import DagBag
    from sqlalchemy import event

    imported = time.perf_counter() - started
    queries: list[str] = []
    event.listen(
        settings.engine, "before_cursor_execute", lambda *a, **k: queries.append(str(a[2])[:80])
    )
    # DagBag's own first-use imports are Airflow's, not the file's: pay them on an empty folder.
    with tempfile.TemporaryDirectory() as empty:
        DagBag(dag_folder=empty, include_examples=False, read_dags_from_db=False)
    before = set(sys.modules)
    path = sys.argv[1] if len(sys.argv) > 1 else f"{settings.DAGS_FOLDER}/rest_trigger.py"
    t0 = time.perf_counter()
    bag = DagBag(dag_folder=path, include_examples=False, read_dags_from_db=False)
    first = time.perf_counter() - t0
    new_modules = sorted(m for m in set(sys.modules) - before if not m.startswith("unusual_prefix"))
    t0 = time.perf_counter()
    DagBag(dag_folder=path, include_examples=False, read_dags_from_db=False)
    again = time.perf_counter() - t0
    sys.stdout.write(
        json.dumps(
            {
                "import_airflow_s": round(imported, 4),
                "first_parse_s": round(first, 4),
                "reparse_s": round(again, 4),
                "db_queries": len(queries),
                "queries": queries[:5],
                "new_modules": new_modules,
                "dags": sorted(bag.dag_ids),
                "import_errors": bag.import_errors,
            }
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
