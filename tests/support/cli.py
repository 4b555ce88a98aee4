"""The `rest-trigger` command as the client tests run it: a subprocess with the caller's
environment (no Airflow settings, the tests' own included) and the demo conf as arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rest_trigger_etl.names import DEMO_CONF
from tests.support.harness import env_without_airflow

CLI = Path(sys.executable).with_name("rest-trigger")
ARGS = [
    *("--gid", str(DEMO_CONF["gid"]), "--sid", str(DEMO_CONF["sid"])),
    *("--start", str(DEMO_CONF["date_start"]), "--end", str(DEMO_CONF["date_end"])),
]

client_env = env_without_airflow


def rest_trigger(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    assert CLI.exists(), f"{CLI} is missing: run `make venv` to install the entry point"
    return subprocess.run(
        [str(CLI), *args], env=env or client_env(), capture_output=True, text=True, timeout=timeout
    )
