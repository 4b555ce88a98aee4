"""Start and stop the Airflow stacks the benchmark measures, each in its own subprocess on
free ports and a throwaway state folder.

- ``project``: ``python -m rest_trigger_local``, exactly what ``make run`` starts (the project's
  airflow.cfg, LocalExecutor on the embedded PostgreSQL).
- ``stock``: ``python -m bench.stock_stack``: the same launcher, DAG and warehouse, but Airflow's
  own defaults (SQLite metadata database, SequentialExecutor, no tuning).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rest_trigger_local.ports import free_port

PROJECT_DIR = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 600
# The launcher's local-only defaults. The benchmark calls the API as other systems do, with
# the caller account; the stock stack keeps Airflow's own auth manager, under which only a role
# that may edit the DAG (admin here) can trigger it.
ADMIN = ("admin", "admin")
CALLER = ("caller", "caller")

MODULES = {"project": "rest_trigger_local", "stock": "bench.stock_stack"}


@dataclass
class Stack:
    variant: str
    state_dir: Path
    airflow_port: int
    pg_port: int
    warehouse_port: int
    process: subprocess.Popen[bytes]
    output: Path
    started_in: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def auth(self) -> tuple[str, str]:
        return ADMIN if self.variant == "stock" else CALLER

    def airflow_env(self) -> dict[str, str]:
        """The environment the launcher gives Airflow's processes (for CLI calls like
        ``airflow dags report`` against this stack)."""
        from rest_trigger_local.settings import Settings, airflow_env

        settings = Settings.from_env(self.launcher_env())
        secrets = json.loads((self.state_dir / "secrets.json").read_text())
        return airflow_env(settings, secrets)

    def launcher_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        # SequentialExecutor runs each task as an `airflow tasks run` subprocess found on PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.update(
            REST_TRIGGER_STATE_DIR=str(self.state_dir),
            AIRFLOW_PORT=str(self.airflow_port),
            LOCAL_PG_PORT=str(self.pg_port),
            WAREHOUSE_PORT=str(self.warehouse_port),
            **self.extra,
        )
        return env

    def warehouse(self) -> Any:
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.pg_port,
            dbname="dev",
            user="warehouse",
            password="warehouse",
        )

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])


def start(variant: str, demo_rows: int, env: dict[str, str] | None = None) -> Stack:
    state = Path(tempfile.mkdtemp(prefix=f"rest-trigger-bench-{variant}-"))
    stack = Stack(
        variant=variant,
        state_dir=state,
        airflow_port=free_port(),
        pg_port=free_port(),
        warehouse_port=free_port(),
        process=None,  # type: ignore[arg-type]
        output=state / "launcher.out",
        extra={
            "DEMO_ROWS": str(demo_rows),
            "XDG_RUNTIME_DIR": tempfile.mkdtemp(),
            # The scheduler's log server listens on 8793 by default; another stack on this
            # machine may hold it, and the scheduler stops when it cannot bind.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            **(env or {}),
        },
    )
    started = time.monotonic()
    stack.process = subprocess.Popen(
        [sys.executable, "-m", MODULES[variant]],
        cwd=PROJECT_DIR,
        env=stack.launcher_env(),
        stdout=stack.output.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C on the benchmark reaches it only through stop()
    )
    deadline = started + STARTUP_TIMEOUT
    while "ready in" not in stack.output.read_text(errors="replace"):
        if stack.process.poll() is not None or time.monotonic() > deadline:
            tail = stack.log_tail()
            stop(stack)
            raise RuntimeError(f"the {variant} stack did not start:\n{tail}")
        time.sleep(0.5)
    stack.started_in = time.monotonic() - started
    return stack


def stop(stack: Stack) -> None:
    """SIGTERM the launcher (it stops everything it started), as Ctrl-C would."""
    proc = stack.process
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
