"""Shared fixtures. Airflow is pointed at a throwaway AIRFLOW_HOME before anything imports it,
so the tests never touch ~/airflow or a developer's `make run` state."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rest_trigger_local.settings import PROJECT_DIR

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="rest-trigger-test-airflow-")
# As root, an embedded server whose data folder its user cannot reach keeps its data here
# (rest_trigger_local/pg_root.py), not in /var/lib/rest-trigger; removed when the session ends.
_PG_FALLBACK = Path(tempfile.mkdtemp(prefix="rest-trigger-test-pg-fallback-"))
_PG_FALLBACK.chmod(0o755)  # made here, so opening it changes nothing of anyone else's
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW_CONFIG": str(PROJECT_DIR / "airflow.cfg"),
        "REST_TRIGGER_HOME": str(PROJECT_DIR),
        # The in-process layer (DagBag, Params) needs a metadata DB only to import Airflow.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
        # pgserver's platformdirs wants a private runtime dir.
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR") or tempfile.mkdtemp(),
        "REST_TRIGGER_PG_FALLBACK_DIR": str(_PG_FALLBACK),
    }
)


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_PG_FALLBACK, ignore_errors=True)


pytest_plugins = ["tests.support.databases", "tests.support.airflow_stack"]
