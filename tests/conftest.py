"""Shared fixtures. Airflow is pointed at a throwaway AIRFLOW_HOME before anything imports it,
so the tests never touch ~/airflow or a developer's `make run` state."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="rest-trigger-test-airflow-")
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
    }
)

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.airflow_stack"]
