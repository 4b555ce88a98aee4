"""The `make run` stack as the tests and the benchmark start it: the launcher in a subprocess, on
free ports and a throwaway state folder, ready when Airflow's API says so, stopped by a signal.

What runs is ``python -m <module>``: ``rest_trigger_local`` (what ``make run`` starts), or an
entry point that hands the launcher a Launcher subclass of its own (``launcher.run(Subclass)``;
bench/stock_stack.py runs stock Airflow that way), or any command given (a test starts
``make run`` itself). Ready means ``GET /api/v1/health`` reports the metadatabase and the
scheduler healthy and ``GET /api/v1/dags/rest-trigger`` answers 200 (the DAG is served), not a
line in the launcher's output; both asked through the trigger client's transport, the one REST
client here. Logins and warehouse credentials come from the launcher's own settings
(settings.py), read from the environment the stack was started with.

``Stack.start(airflow=3)`` starts the same launcher on Airflow 3 (.venv-airflow3's interpreter,
``make venv-airflow3``). Ready then means ``GET /api/v2/monitor/health`` healthy (the DAG
processor too) and the DAG served to the admin's bearer token (POST /auth/token), asked through
the same transport.

A little over 250 lines: one stack's life (start, ready, stop) on either Airflow; what differs by
version is one property and the API version's health path, and the rest is shared.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import psutil
import urllib3

from rest_trigger_client.errors import HttpError, RestTriggerError
from rest_trigger_client.transport import Transport
from rest_trigger_etl.names import DAG_ID
from rest_trigger_local.ports import free_port
from rest_trigger_local.settings import PROJECT_DIR, Settings, airflow_env, metadata_database

# Every port the launcher binds: a free one each, unless the caller names one.
PORTS = ("AIRFLOW_PORT", "LOCAL_PG_PORT", "WAREHOUSE_PORT", "AIRFLOW_LOG_SERVER_PORT")
STARTUP_TIMEOUT = 300.0
# Airflow 3: migrations, then three heavier processes; the launcher alone waits 300 s for health.
STARTUP_TIMEOUT_AIRFLOW3 = 480.0
STOP_TIMEOUT = 120.0  # the launcher's grace period (20 s) and PostgreSQL's fast stop, with room
# The interpreter of `make venv-airflow3`: runs the launcher on Airflow 3.
AIRFLOW3_PYTHON = PROJECT_DIR / ".venv-airflow3" / "bin" / "python"


def env_without_airflow(**overrides: str) -> dict[str, str]:
    """This process's environment minus every ``AIRFLOW*`` variable (the tests' own Airflow
    settings, a developer's), with ``overrides`` on top: what a stack or a client started from
    here gets, so that it reads its own configuration only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(overrides)
    return env


def open_temp_folder(prefix: str) -> Path:
    """A new temporary folder others may enter: as root, the embedded server runs as its own
    user, who must reach the data folder inside. mkdtemp makes it 0700; this process made it, so
    opening it changes nothing that belongs to anyone else."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def pg_data_dir(state_dir: Path) -> Path:
    """A stack's PostgreSQL data folder: in the state folder, or where pgdata.location says
    (as root, when the server's user cannot reach the state folder)."""
    location = state_dir / "pgdata.location"
    return Path(location.read_text().strip()) if location.exists() else state_dir / "pgdata"


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class Stack:
    process: subprocess.Popen[bytes]  # the launcher (or the command given)
    state_dir: Path
    output: Path  # the launcher's stdout and stderr
    env: dict[str, str]  # the environment it was started with
    new_session: bool = False  # started in a session (process group) of its own
    started_in: float = 0.0  # seconds from the start to ready
    airflow: int = 2  # the Airflow major version it runs

    @cached_property
    def settings(self) -> Settings:
        """What the launcher read from its environment: ports, logins, warehouse."""
        return Settings.from_env(self.env)

    @cached_property
    def rest(self) -> Transport:
        """The trigger client's transport (rest_trigger_client, the one REST client here) as
        the admin, for readiness: no retries, the readiness loop polls on its own."""
        return Transport(
            self.base_url, *self.admin, api=self.api_version, connect_retries=0,
            request_timeout=10,
        )  # fmt: skip

    @property
    def api_version(self) -> str:
        """The REST API this stack's Airflow serves: /api/v1 on 2.11, /api/v2 on 3."""
        return "v1" if self.airflow < 3 else "v2"

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def api(self) -> str:
        return self.rest.api_url

    @property
    def pg_port(self) -> int:
        return self.settings.pg_port

    @property
    def warehouse_port(self) -> int:
        return self.settings.warehouse_port

    @property
    def admin(self) -> tuple[str, str]:
        return self.settings.admin_user, self.settings.admin_password

    @property
    def caller(self) -> tuple[str, str]:
        """The account other systems call the API with (role RestTriggerCaller)."""
        return self.settings.caller_user, self.settings.caller_password

    def warehouse(self) -> Any:
        """A psycopg2 connection to the stack's warehouse database (the server, not the relay)."""
        import psycopg2

        s = self.settings
        return psycopg2.connect(
            host="127.0.0.1", port=s.pg_port, dbname=s.warehouse_db,
            user=s.warehouse_user, password=s.warehouse_password,
        )  # fmt: skip

    def secrets(self) -> dict[str, str]:
        """The secrets the launcher generated into the state folder."""
        return json.loads((self.state_dir / "secrets.json").read_text())

    def metadata_db(self, database: str | None = None) -> Any:
        """A psycopg2 connection to a metadata database of the stack's PostgreSQL as Airflow's
        own user: this stack's Airflow's, unless ``database`` names another version's."""
        import psycopg2

        password = self.secrets()["metadb_password"]
        return psycopg2.connect(
            host="127.0.0.1", port=self.pg_port, user="airflow", password=password,
            dbname=database or metadata_database(self.airflow),
        )  # fmt: skip

    def airflow_env(self) -> dict[str, str]:
        """The environment the launcher gives Airflow's processes under the project's
        configuration (for CLI calls like ``airflow dags report`` against this stack)."""
        return airflow_env(self.settings, self.secrets(), self.airflow)

    def log_text(self) -> str:
        return self.output.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_output(self, marker: str, timeout: float = 60) -> str:
        """The launcher's output once it holds ``marker`` (what it prints after being ready,
        such as its banner, may come a moment after the API answers)."""
        deadline = time.monotonic() + timeout
        while marker not in (text := self.log_text()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} in the launcher's output:\n{text[-3000:]}")
            time.sleep(0.2)
        return text

    def is_ready(self) -> bool:
        """Airflow's health says the parts that run runs are healthy (the metadatabase and the
        scheduler; on Airflow 3 the DAG processor too), and the DAG is served (read as the
        admin: basic auth on /api/v1, a token on /api/v2)."""
        try:
            version = self.rest.version
            answer = self.rest.get(version.health)
            health = answer.json() if answer.status_code == 200 else {}
            if any(
                health.get(part, {}).get("status") != "healthy" for part in version.health_parts
            ):
                return False
            return self.rest.get(f"/dags/{DAG_ID}").status_code == 200
        except (RestTriggerError, HttpError, ValueError, urllib3.exceptions.HTTPError):
            # Not up yet: refused connections, a token endpoint that is not serving yet.
            return False

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the stack exited with code {self.process.returncode} before it was"
                    f" ready:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack was not ready within {timeout:.0f} s:\n"
                                   f"{self.log_tail()}")  # fmt: skip
            time.sleep(0.5)

    @classmethod
    def start(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        state_dir: Path | None = None,
        module: str = "rest_trigger_local",
        command: list[str] | None = None,
        new_session: bool = False,
        timeout: float | None = None,
        airflow: int = 2,
        **fields: Any,
    ) -> Self:
        """Start ``python -m module`` (or ``command``) in ``state_dir`` (a new temporary folder
        by default) on free ports, with the environment minus AIRFLOW* and ``env`` on top; return
        once ready, or stop it and raise. ``new_session``: its own process group, which a
        Ctrl-C on this process does not reach (stop() signals that group). ``airflow=3``: run
        it with .venv-airflow3's interpreter (Airflow 3). ``fields``: the subclass's own."""
        state = state_dir or open_temp_folder("rest-trigger-stack-")
        extra = dict(env or {})
        ports = {name: extra.pop(name, None) or str(free_port()) for name in PORTS}
        launcher_env = env_without_airflow(REST_TRIGGER_STATE_DIR=str(state), **ports, **extra)
        output = state / f"launcher-{len(list(state.glob('launcher-*.out')))}.out"
        python = str(AIRFLOW3_PYTHON) if airflow >= 3 else sys.executable
        if airflow >= 3 and command is None and not AIRFLOW3_PYTHON.exists():
            raise RuntimeError(f"{AIRFLOW3_PYTHON} is missing: `make venv-airflow3` builds it")
        started = time.monotonic()
        with output.open("wb") as out:
            process = subprocess.Popen(
                command or [python, "-m", module],
                cwd=PROJECT_DIR, env=launcher_env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=new_session,
            )  # fmt: skip
        stack = cls(process, state, output, launcher_env, new_session, airflow=airflow, **fields)
        try:
            stack.wait_ready(
                timeout or (STARTUP_TIMEOUT_AIRFLOW3 if airflow >= 3 else STARTUP_TIMEOUT)
            )
        except BaseException:
            stop(stack)
            raise
        stack.started_in = time.monotonic() - started
        return stack


def stop(stack: Stack, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> list[str]:
    """Signal the launcher (SIGTERM, or SIGINT as Ctrl-C sends; to its whole process group when
    it has a session of its own) and wait for it to stop everything it started. Return what it
    left running (should be nothing), after killing that."""
    try:
        family = psutil.Process(stack.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if stack.process.poll() is None:
        if stack.new_session:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(stack.process.pid, signum)
        else:
            stack.process.send_signal(signum)
        try:
            stack.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()
    time.sleep(0.5)
    leftovers = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in family if alive(p)]
    if (pg_data_dir(stack.state_dir) / "postmaster.pid").exists():
        leftovers.append("embedded PostgreSQL (postmaster.pid still present)")
    for p in family:
        if alive(p):
            p.kill()
    return leftovers
