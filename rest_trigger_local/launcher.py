"""``make run``: the whole project on this machine, no Docker.

Starts the embedded PostgreSQL (Airflow's metadata database and the warehouse), the warehouse
relay on WAREHOUSE_PORT, creates schema and demo data once, migrates Airflow's database, creates
the admin and caller accounts (accounts.py), then runs the webserver and the scheduler until
Ctrl-C or SIGTERM, when it stops every process it started (supervision.py: any number of
signals; PostgreSQL always last). A scheduler or webserver that exits meanwhile is restarted,
with backoff, up to a cap.

On Airflow 3 (``make run AIRFLOW=3``: the same launcher run by .venv-airflow3's interpreter, the
version read from the installed package) the processes are the api-server, the scheduler and the
dag-processor, the metadata database is its own (``airflow3``), and what airflow.cfg cannot say
for 3 comes from the environment (settings.airflow3_env).

Over 250 lines because start-up, supervision and stop are one object's life and share its state
(the children, the processes each started, PostgreSQL); what stands alone already lives
elsewhere (settings, supervision, process_records, postgres, relay, warehouse, accounts).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from importlib import metadata
from typing import IO

import psutil

from rest_trigger_etl.airflow_compat import API_V2, api_paths
from rest_trigger_local import airflow_internals, process_records
from rest_trigger_local.ports import port_is_free
from rest_trigger_local.settings import (
    JWT_EXPIRATION_SECONDS,
    Settings,
    airflow_env,
    install_secrets,
    installed_airflow_major,
    metadata_database,
)
from rest_trigger_local.supervision import RestartPolicy, StopSignals, describe_exit

STOP_GRACE_SECONDS = 20
SUPERVISE_INTERVAL = 0.5  # how often the children are checked
# How often the processes each child started are noted: walking /proc costs ~6 ms of CPU, and
# what escapes a child's process group (its DAG processor) lives as long as the child does.
FAMILY_INTERVAL = 5.0
LOG_TAIL_LINES = 20


class LaunchError(RuntimeError):
    """A start-up step failed; the message says which and why."""


def _say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


class Launcher:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.state = settings.state_dir
        self.logs = self.state / "logs"
        self.pid_file = self.state / "processes.json"
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, tuple[str, ...]] = {}
        # Every process each child has started, as last seen (pid -> start time): a child that
        # dies leaves them to init, where its process group no longer finds all of them (the
        # scheduler's DAG processor runs in its own group).
        self.families: dict[str, dict[int, float]] = {}
        self.policies: dict[str, RestartPolicy] = {}
        self._log_files: list[IO[bytes]] = []
        self.pg = None
        self.env: dict[str, str] = {}
        self.version = metadata.version("apache-airflow")
        self.major = installed_airflow_major()

    # -- start-up -------------------------------------------------------------------------
    def _reap_leftovers(self) -> None:
        """Stop processes a previous run recorded but could not stop (it was SIGKILLed), if they
        are still the processes it started (process_records.py)."""
        process_records.reap(self.pid_file, _say)

    def _check_ports(self) -> None:
        s = self.settings
        for name, port in (
            ("AIRFLOW_PORT", s.airflow_port),
            ("WAREHOUSE_PORT", s.warehouse_port),
            ("LOCAL_PG_PORT", s.pg_port),
            ("AIRFLOW_LOG_SERVER_PORT", s.log_server_port),
        ):
            if name == "LOCAL_PG_PORT" and self.pg is not None and self.pg.is_running():
                continue
            if not port_is_free("127.0.0.1", port):
                raise LaunchError(f"port {port} is in use; set {name} to another port")

    def _start_databases(self) -> None:
        from rest_trigger_local.postgres import EmbeddedPostgres
        from warehouse_standin.relay import Relay

        s = self.settings
        self.pg = EmbeddedPostgres(
            self.state / "pgdata", s.pg_port, user=s.pg_user, fallback_dir=s.pg_fallback_dir
        )
        self._check_ports()
        created = self.pg.init()
        for note in self.pg.notes:
            _say(note)
        if created:
            _say("created the embedded PostgreSQL cluster")
        self.pg.start()
        secrets = install_secrets(self.state)
        self.pg.ensure_role_and_database(
            "airflow", secrets["metadb_password"], metadata_database(self.major)
        )
        self.pg.ensure_role_and_database(s.warehouse_user, s.warehouse_password, s.warehouse_db)
        Relay("127.0.0.1", s.warehouse_port, "127.0.0.1", s.pg_port).start_in_thread()
        _say(f"PostgreSQL 16 on 127.0.0.1:{s.pg_port}; warehouse relay on :{s.warehouse_port}")

        import psycopg2

        from warehouse_standin import seed as warehouse

        conn = psycopg2.connect(
            host="127.0.0.1", port=s.pg_port, dbname=s.warehouse_db,
            user=s.warehouse_user, password=s.warehouse_password,
        )  # fmt: skip
        try:
            if warehouse.prepare(conn, rows=s.demo_rows):
                _say(f"seeded the warehouse with {s.demo_rows} demo activity rows")
        finally:
            conn.close()
        self.env = self.airflow_environment(secrets)

    def airflow_environment(self, secret_values: dict[str, str]) -> dict[str, str]:
        """The environment of every Airflow process this launcher runs: the project's
        configuration (settings.airflow_env). The extension point for another one: a subclass
        returns its own and is started with ``run(TheSubclass)`` (bench/stock_stack.py runs
        stock Airflow's settings that way). Called once PostgreSQL is up and the state folder
        exists."""
        return airflow_env(self.settings, secret_values, self.major)

    def _airflow(self, *args: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-15:]
            raise LaunchError(f"airflow {' '.join(args[:2])} failed:\n" + "\n".join(detail))
        return result

    def _prepare_airflow(self) -> None:
        s = self.settings
        (self.state / "airflow").mkdir(parents=True, exist_ok=True)
        self._airflow("db", "migrate")
        _say("Airflow metadata database migrated")
        # The admin and the caller account with its role (deploy/roles/rest_trigger_caller.json),
        # in-process through FAB's security manager: the passwords travel in the environment,
        # never on a command line. One Airflow start-up where deploy/create_accounts.sh (the same
        # with Airflow's own commands) needs six: 3 s against 16-18 s on a 2-core machine.
        accounts = subprocess.run(
            [sys.executable, "-m", "deploy.accounts"],
            env={
                **self.env,
                "AIRFLOW_ADMIN_USER": s.admin_user,
                "AIRFLOW_ADMIN_PASSWORD": s.admin_password,
                "AIRFLOW_CALLER_USER": s.caller_user,
                "AIRFLOW_CALLER_PASSWORD": s.caller_password,
            },
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if accounts.returncode != 0:
            detail = (accounts.stderr or accounts.stdout).strip().splitlines()[-15:]
            raise LaunchError("creating the Airflow accounts failed:\n" + "\n".join(detail))
        for line in accounts.stdout.splitlines():
            if line.startswith("accounts: "):
                _say(line.removeprefix("accounts: "))

    def _spawn(self, name: str, *args: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._log_files.append(log)
        self.commands[name] = args
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )  # fmt: skip
        self.families[name] = {}
        process_records.record(self.pid_file, {n: p.pid for n, p in self.children.items()})

    def _wait_healthy(self, timeout: float | None = None) -> None:
        # 3.x starts three heavier processes (the api-server builds FastAPI's and FAB's apps).
        timeout = timeout or (300 if self.major >= 3 else 180)
        # 3.x moved the health check under /api/v2/monitor (its answer has the same shape).
        url = f"{self.settings.base_url}{api_paths(self.major).health_url_path}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_children()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    health = json.load(response)
                if health["scheduler"]["status"] == "healthy":
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise LaunchError(f"Airflow did not become healthy within {timeout:.0f} s ({url})")

    def _warm_execution_api(self) -> None:
        """3.x: have the api-server build the task execution API now, not when the first task
        calls it. It is a Cadwyn app that generates its versioned routers and pydantic models on
        its first request, on the event loop of the api-server's single worker: seen taking
        ~30 s on the loaded 2-core machine, during which every request (the first run's task,
        the callers' polls) waited. Its /health is public; any answer means it is built."""
        if self.major < 3:
            return
        started = time.monotonic()
        url = f"{self.settings.base_url}/execution/health"
        try:
            urllib.request.urlopen(url, timeout=300).close()
        except urllib.error.HTTPError:
            pass  # built; the answer does not matter
        except OSError as exc:
            _say(f"warning: the task execution API did not answer ({exc}); tasks may wait")
            return
        _say(f"task execution API built in {time.monotonic() - started:.1f} s")

    def _check_admin_login(self) -> None:
        """The user is created on the first run only; say so if the password has changed since."""
        s = self.settings
        if self.major >= 3:
            # 3.x has no basic auth on the API: a login is a token request (401 when refused).
            body = json.dumps({"username": s.admin_user, "password": s.admin_password})
            request = urllib.request.Request(
                f"{s.base_url}{API_V2.token}", data=body.encode(), method="POST",
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
        else:
            request = urllib.request.Request(f"{s.base_url}/api/v1/dags?limit=1")
            token = base64.b64encode(f"{s.admin_user}:{s.admin_password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            _say(
                f"warning: {s.admin_user}/AIRFLOW_ADMIN_PASSWORD is refused ({exc.code}); the user "
                "was created on the first run with another password (`make clean-state` resets)"
            )

    def _log_tail(self, name: str) -> str:
        lines = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def _check_children(self) -> None:
        """During start-up an exit is a configuration problem: report it, do not retry."""
        for name, proc in self.children.items():
            if proc.poll() is not None:
                raise LaunchError(
                    f"airflow {name} exited with code {describe_exit(proc.returncode)}:\n"
                    + self._log_tail(name)
                )

    # -- supervision ----------------------------------------------------------------------
    def _note_families(self) -> None:
        for name, proc in self.children.items():
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        self.families[name].setdefault(child.pid, child.create_time())

    def _kill_family(self, name: str) -> None:
        """SIGKILL what is left of a child: its process group, and every process it started
        that still runs (the same process: pid and start time both match)."""
        proc = self.children[name]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid, started in self.families.get(name, {}).items():
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if process.create_time() == started:
                    process.kill()
        self.families[name] = {}

    def _fail_dead_scheduler_jobs(self) -> None:
        airflow_internals.fail_running_scheduler_jobs(
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        )

    def _restart(self, name: str) -> None:
        proc = self.children[name]
        code = describe_exit(proc.returncode)
        tail = self._log_tail(name)
        self._kill_family(name)
        policy = self.policies.setdefault(
            name,
            RestartPolicy(self.settings.max_restarts, self.settings.restart_window),
        )
        delay = policy.next_delay(time.monotonic())
        if delay is None:
            raise LaunchError(
                f"airflow {name} exited with code {code}, after {policy.max_restarts} restart(s)"
                f" within {policy.window:.0f} s: giving up. Last lines of its log:\n{tail}"
            )
        _say(
            f"airflow {name} exited with code {code}; restarting it in {delay:.0f} s (restart"
            f" {len(policy.restarts)} of at most {policy.max_restarts} within"
            f" {policy.window:.0f} s). Last lines of {self.logs / (name + '.log')}:\n{tail}"
        )
        if name == "scheduler":
            self._fail_dead_scheduler_jobs()
        time.sleep(delay)
        self._spawn(name, *self.commands[name])
        _say(f"airflow {name} restarted (pid {self.children[name].pid})")

    def supervise(self) -> None:
        """Until interrupted: restart a scheduler or webserver that exits. Raises LaunchError
        when one has exited more often than the restart policy allows."""
        noted = 0.0
        while True:
            if time.monotonic() - noted >= FAMILY_INTERVAL:
                self._note_families()
                noted = time.monotonic()
            for name in list(self.children):
                if self.children[name].poll() is not None:
                    self._restart(name)
                    noted = 0.0  # the new process's family, soon
            time.sleep(SUPERVISE_INTERVAL)

    def processes(self) -> list[tuple[str, ...]]:
        """The Airflow processes to run and supervise: (name, *arguments of ``airflow``)."""
        if self.major < 3:
            return [("scheduler", "scheduler"), ("webserver", "webserver")]
        # 3.x split the webserver into the api-server (UI, REST API, the tasks' execution API)
        # and always parses DAG files in a separate dag-processor. No triggerer: it runs only
        # deferred tasks, and rest-trigger defers none (pusher and main_etl are plain tasks).
        return [
            ("scheduler", "scheduler"),
            ("dag-processor", "dag-processor"),
            ("api-server", "api-server"),
        ]

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self._reap_leftovers()
        self._start_databases()
        self._prepare_airflow()
        for name, *args in self.processes():
            self._spawn(name, *args)
        self._wait_healthy()
        self._warm_execution_api()
        self._check_admin_login()

    # -- shutdown -------------------------------------------------------------------------
    def stop(self, hurry: threading.Event | None = None) -> None:
        """Stop everything this launcher started; Airflow first (SIGTERM, then SIGKILL after
        STOP_GRACE_SECONDS, or at once when ``hurry`` is set), PostgreSQL last, always."""
        hurry = hurry or threading.Event()
        self._note_families()
        for proc in self.children.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in self.children.values():
            while proc.poll() is None and time.monotonic() < deadline and not hurry.is_set():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.2)
        for name in list(self.children):
            # Whatever is left: gunicorn workers, task processes, the DAG processor.
            self._kill_family(name)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.children[name].wait(timeout=10)
        self.children.clear()
        for log in self._log_files:
            log.close()
        self._log_files.clear()
        self.pid_file.unlink(missing_ok=True)
        if self.pg is not None:
            self.pg.stop()

    def banner(self) -> str:
        from rest_trigger_etl.names import DAG_ID, DEMO_CONF

        s = self.settings
        # Passwords appear only when they are the documented local-only defaults; one set in
        # the environment shows as the variable's name.
        caller = s.shown_password("caller")
        conf = f'"conf": {json.dumps(DEMO_CONF)}'
        if self.major >= 3:
            # 3.x: a bearer token from POST /auth/token instead of basic auth, /api/v2, and
            # logical_date in the body (null: a run created by an API call has none).
            runs = f"{s.base_url}/api/v2/dags/{DAG_ID}/dagRuns"
            login = json.dumps({"username": s.caller_user, "password": caller})
            auth = '-H "Authorization: Bearer $TOKEN"'
            read_token = (
                """python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'"""
            )
            trigger = [
                f"Get a token (valid {JWT_EXPIRATION_SECONDS // 60} min: [api_auth]"
                " jwt_expiration_time), then trigger:",
                f"  TOKEN=$(curl -s -X POST {s.base_url}/auth/token \\",
                f"    -H 'Content-Type: application/json' -d '{login}' \\",
                f"    | {read_token})",
                f"  curl -s {auth} -X POST {runs} \\",
                "    -H 'Content-Type: application/json' \\",
                f"""    -d '{{"dag_run_id": "demo-1", "logical_date": null, {conf}}}'""",
            ]
        else:
            auth = f"-u {s.caller_user}:{caller}"
            runs = f"{s.base_url}/api/v1/dags/{DAG_ID}/dagRuns"
            trigger = [
                "Trigger a run:",
                f"  curl -s {auth} -X POST {runs} \\",
                "    -H 'Content-Type: application/json' \\",
                f"""    -d '{{"dag_run_id": "demo-1", {conf}}}'""",
            ]
        warehouse = f"host=127.0.0.1 port={s.warehouse_port} dbname={s.warehouse_db}"
        return "\n".join(
            [
                "",
                f"Airflow {self.version} is up: {s.base_url}  (UI and REST API)",
                f"  UI login (people): {s.admin_user} / {s.shown_password('admin')}"
                "  (AIRFLOW_ADMIN_USER / AIRFLOW_ADMIN_PASSWORD)",
                f"  API login (other systems): {s.caller_user} / {caller}"
                "  (AIRFLOW_CALLER_USER / AIRFLOW_CALLER_PASSWORD; may only trigger and read"
                " rest-trigger)",
                f'  warehouse: psql "{warehouse} user={s.warehouse_user}"'
                f"  (password {s.shown_password('warehouse')})",
                "  (a password shown is the local-only default: never use it elsewhere)",
                f"  logs: {self.logs}",
                "",
                *trigger,
                "Poll it:",
                f"  curl -s {auth} {runs}/demo-1",
                "",
                "Ctrl-C stops everything.",
            ]
        )


def run(launcher_class: type[Launcher] = Launcher) -> int:
    """``make run``: start everything, supervise it until a stop signal, stop everything.
    ``launcher_class`` is the Launcher (sub)class to run (bench/stock_stack.py passes its own)."""
    warnings.filterwarnings("ignore", module="platformdirs")
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())  # pgserver's platformdirs
    signals = StopSignals()
    signals.install()
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    launcher = launcher_class(settings)
    started = time.monotonic()
    try:
        launcher.start()
        _say(f"ready in {time.monotonic() - started:.1f} s")
        print(launcher.banner(), flush=True)
        launcher.supervise()
    except KeyboardInterrupt:
        _say("stopping")
        return 0
    except RuntimeError as exc:  # LaunchError, RootSetupError, the server's own failures
        _say(f"error: {exc}")
        return 1
    finally:
        signals.begin_stop()
        launcher.stop(signals.hurry)
        _say("stopped")
    return 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
