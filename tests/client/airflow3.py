"""A real Airflow 3.3 for the client's /api/v2 tests, started by hand: ``airflow api-server``,
``scheduler`` and ``dag-processor`` from the Airflow 3 venv (.venv-airflow3, built from
requirements-airflow3.lock), in a throwaway AIRFLOW_HOME on free 127.0.0.1 ports, with the
project's dags/ and the embedded PostgreSQL warehouse behind the redshift_connector relay (as
`make run` has it).

Kept small and on its own: `make run AIRFLOW=3` (rest_trigger_local/harness.py) will start the
same stack, and the fixture moves to it then. SQLite holds the metadata (LocalExecutor works on
SQLite in Airflow 3); PostgreSQL only the warehouse. The plugins folder holds rest_trigger_etl
only: the other plugins are Airflow 2's (being made version-safe elsewhere).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from rest_trigger_client.errors import RestTriggerError
from rest_trigger_client.transport import Transport
from rest_trigger_etl.names import DAG_ID
from rest_trigger_local import warehouse
from rest_trigger_local.harness import env_without_airflow, open_temp_folder
from rest_trigger_local.ports import free_port
from rest_trigger_local.postgres import EmbeddedPostgres
from rest_trigger_local.relay import Relay
from rest_trigger_local.settings import PROJECT_DIR

# Where the Airflow 3 venv may be: AIRFLOW3_VENV, else the worktree's .venv-airflow3.
VENV_CANDIDATES = (os.environ.get("AIRFLOW3_VENV", ""), str(PROJECT_DIR / ".venv-airflow3"))
ADMIN = ("admin", "admin-pw")
CALLER = ("caller", "caller-pw")  # role User: may trigger and read DAGs (FAB's stock role)
WAREHOUSE = {"user": "warehouse", "password": "warehouse", "db": "dev"}
DEMO_ROWS = 50_000  # as the 2.11 end-to-end stack seeds it
# Short, so that the tests see tokens expire and the client renew them.
TOKEN_LIFETIME = 20
# Airflow still accepts a token this long after its exp ([api_auth] jwt_leeway, its default).
TOKEN_LEEWAY = 10
STARTUP_TIMEOUT = 420.0
PROCESSES = ("api-server", "scheduler", "dag-processor")


def airflow3_venv() -> Path | None:
    for candidate in VENV_CANDIDATES:
        if candidate and (Path(candidate) / "bin" / "airflow").exists():
            return Path(candidate)
    return None


@dataclass
class Airflow3Server:
    base_url: str
    admin: tuple[str, str]
    caller: tuple[str, str]
    home: Path
    token_lifetime: int
    token_leeway: int
    env: dict[str, str] = field(repr=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _airflow(venv: Path, env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(venv / "bin" / "airflow"), *args], env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args[:2])} failed:\n{result.stderr[-3000:]}")


def _environment(venv: Path, home: Path, port: int, warehouse_port: int) -> dict[str, str]:
    plugins = home / "plugins"
    plugins.mkdir()
    (plugins / "rest_trigger_etl").symlink_to(PROJECT_DIR / "plugins" / "rest_trigger_etl")
    conn = {
        "conn_type": "redshift",
        "host": "127.0.0.1",
        "port": warehouse_port,
        "schema": WAREHOUSE["db"],
        "login": WAREHOUSE["user"],
        "password": WAREHOUSE["password"],
        "extra": {"ssl": False, "application_name": "rest-trigger"},
    }
    secret = os.urandom(16).hex()
    return env_without_airflow(
        PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT_DIR / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__AUTH_MANAGER=(
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
        ),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__SECRET_KEY=secret,
        AIRFLOW__API_AUTH__JWT_SECRET=secret + "-jwt",
        AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME=str(TOKEN_LIFETIME),
        AIRFLOW__API_AUTH__JWT_LEEWAY=str(TOKEN_LEEWAY),
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
        AIRFLOW_CONN_REDSHIFT_DEFAULT=json.dumps(conn),
    )


def _start_warehouse(folder: Path) -> tuple[EmbeddedPostgres, int]:
    pg = EmbeddedPostgres(folder / "pgdata", free_port())
    pg.init()
    pg.start()
    pg.ensure_role_and_database(WAREHOUSE["user"], WAREHOUSE["password"], WAREHOUSE["db"])
    relay_port = free_port()
    Relay("127.0.0.1", relay_port, "127.0.0.1", pg.port).start_in_thread()
    conn = psycopg2.connect(
        host="127.0.0.1", port=pg.port, dbname=WAREHOUSE["db"],
        user=WAREHOUSE["user"], password=WAREHOUSE["password"],
    )  # fmt: skip
    try:
        warehouse.prepare(conn, rows=DEMO_ROWS)
    finally:
        conn.close()
    return pg, relay_port


def _wait_ready(server: Airflow3Server) -> None:
    """Ready: the DAG is served (parsed) and the scheduler reports healthy."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    problem = "nothing asked yet"
    with Transport(server.base_url, *server.admin, api="v2", connect_retries=0) as transport:
        while time.monotonic() < deadline:
            for name, process in server.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited:\n{server.log_tail(name)}")
            try:
                transport.send("GET dag", "GET", f"/dags/{DAG_ID}")
                health = transport.send("GET health", "GET", "/monitor/health").json()
                if health["scheduler"]["status"] == "healthy":
                    return
                problem = f"scheduler {health['scheduler']['status']}"
            except (RestTriggerError, OSError, Exception) as exc:
                problem = str(exc)
            time.sleep(2)
    raise RuntimeError(f"Airflow 3 not ready after {STARTUP_TIMEOUT:g} s: {problem}")


@contextlib.contextmanager
def running_airflow3(venv: Path):
    """The stack, stopped (every process group, then the warehouse) however the block ends."""
    home = open_temp_folder("rest-trigger-airflow3-")
    port = free_port()
    pg, relay_port = _start_warehouse(Path(tempfile.mkdtemp(prefix="af3-wh-", dir=home)))
    env = _environment(venv, home, port, relay_port)
    server = Airflow3Server(
        f"http://127.0.0.1:{port}", ADMIN, CALLER, home, TOKEN_LIFETIME, TOKEN_LEEWAY, env
    )
    try:
        _airflow(venv, env, "db", "migrate")
        for (user, password), role in ((ADMIN, "Admin"), (CALLER, "User")):
            _airflow(
                venv, env, "users", "create", "--username", user, "--password", password,
                "--role", role, "--firstname", user, "--lastname", "test",
                "--email", f"{user}@example.org",
            )  # fmt: skip
        for name in PROCESSES:
            with (home / f"{name}.log").open("wb") as log:
                args = ["--host", "127.0.0.1", "--port", str(port)] if name == "api-server" else []
                server.processes[name] = subprocess.Popen(
                    [str(venv / "bin" / "airflow"), name, *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own group: stopped with all its children
                )
        _wait_ready(server)
        yield server
    finally:
        _stop(server.processes)
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)


def _stop(processes: dict[str, subprocess.Popen[bytes]], grace: float = 30.0) -> None:
    for process in processes.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # what is left of the group
        process.wait()
