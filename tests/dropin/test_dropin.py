"""Drop-in, proven (issue 19): copy dags/, include/ and plugins/ into a stock Airflow that has
never seen the project, give it the warehouse connection and the one auth setting, and the DAG
runs over the REST API with the right total (docs/deploy-existing-airflow.md is this recipe).

Stock means `airflow standalone` in a fresh empty AIRFLOW_HOME from the project's venv
(.venv: 2.11.2; .venv-airflow3: 3.3.2), Airflow's own generated airflow.cfg (SQLite, its
default executor, load_examples on, new DAGs paused) and none of the project's settings
(stock_airflow.child_env drops every AIRFLOW* / REST_TRIGGER_* variable of this session).
The total is checked against a count the test makes itself with psycopg2 on the PostgreSQL
server (not the relay, not the project's SQL).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from rest_trigger_client.results import parse_text
from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL
from rest_trigger_local.ports import free_port
from rest_trigger_local.settings import PROJECT_DIR
from tests.dropin.stock_airflow import (
    LAYOUTS,
    Standalone,
    child_env,
    copy_product,
    generated_cfg_settings,
    redshift_conn,
)
from tests.support.harness import AIRFLOW3_PYTHON
from tests.support.warehouse_reads import independent_count, results_rows
from warehouse_standin import seed as local_warehouse

VENV2 = PROJECT_DIR / ".venv"
VENV3 = AIRFLOW3_PYTHON.parents[1]
# Bounded waits, generous for a 2-core machine shared with other stacks (measured: see the
# printed timings).
HEALTHY_TIMEOUT = 300
DAG_SERVED_TIMEOUT = 480  # 2.11 parses the examples first: 97-206 s seen
RUN_TIMEOUT = 300
DEMO_ROWS, DEMO_ACCOUNTS = 50_000, 1_000  # the e2e tests' demo set (make run seeds 1M)
# The article's one change to stock Airflow 2.11 (whose default is session auth only, so the API
# would refuse basic auth). As an environment variable rather than an edit of the generated
# airflow.cfg: that is how Astro (ENV / .env), MWAA (the "api.auth_backends" configuration
# option) and the Helm chart (config: / env:) set it, environment variables override airflow.cfg
# anyway, and the generated file stays Airflow's own, byte for byte.
AUTH_BACKENDS = "airflow.api.auth.backend.basic_auth"


def _seeded_warehouse(warehouse: Any) -> SimpleNamespace:
    """The demo data in the session's warehouse (seeded once for this size), and the psycopg2
    view of it the independent reads take."""
    conn = warehouse.psycopg_connect()
    try:
        local_warehouse.prepare(conn, rows=DEMO_ROWS, accounts=DEMO_ACCOUNTS)
    finally:
        conn.close()
    return SimpleNamespace(warehouse=warehouse.psycopg_connect)


def _expected_total(reads: SimpleNamespace) -> int:
    total = independent_count(reads, DEMO_CONF["gid"], DEMO_CONF["sid"],
                              DEMO_CONF["date_start"], DEMO_CONF["date_end"])  # fmt: skip
    assert total > 0, "the demo data must make the example meaningful"
    return total


def _which_package(stack: Standalone) -> dict[str, str]:
    """Where the stack's interpreter, once Airflow has set up sys.path, imports the DAG's
    package and its SQL from: the copy in AIRFLOW_HOME, not the project's editable install."""
    probe = (
        "import json, airflow.settings, rest_trigger_etl.sql_files as s;"
        "print(json.dumps({'module': s.__file__, 'sql_dir': str(s.SQL_DIR)}))"
    )
    python = stack.venv / "bin" / "python"
    done = subprocess.run([str(python), "-c", probe], env=stack.env, cwd=stack.home,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _say(text: str) -> None:
    """What the test measured and, on failure, the logs (pytest -s shows them)."""
    print(text, flush=True)  # noqa: T201


def _print_timings(label: str, stack: Standalone, cfg: dict[str, str]) -> None:
    _say(f"\n[dropin {label}] timings (s from `airflow standalone`): {stack.timings}")
    _say(f"[dropin {label}] generated airflow.cfg: " + ", ".join(
        f"{k}={cfg.get(k)}" for k in ("core.executor", "database.sql_alchemy_conn",
                                      "core.load_examples", "core.dags_are_paused_at_creation")
    ))  # fmt: skip


def _assert_dropin(stack: Standalone, layout: str) -> dict[str, str]:
    """Nothing of the project's configuration reaches the child: of AIRFLOW* / REST_TRIGGER_*
    variables it has only AIRFLOW_HOME, the connection, port plumbing and (2.11) the auth
    setting; and the DAG's package and SQL are the copies in AIRFLOW_HOME."""
    allowed = {"AIRFLOW_HOME", "AIRFLOW_CONN_REDSHIFT_DEFAULT", "AIRFLOW__API__AUTH_BACKENDS"}
    plumbing = ("AIRFLOW__WEBSERVER__WEB_SERVER_PORT", "AIRFLOW__LOGGING__", "AIRFLOW__API__PORT",
                "AIRFLOW__API__BASE_URL", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL")  # fmt: skip
    ours = {k for k in stack.env if k.startswith(("AIRFLOW", "REST_TRIGGER_"))}
    assert {k for k in ours - allowed if not k.startswith(plumbing)} == set()
    where = _which_package(stack)
    assert Path(where["module"]).is_relative_to(stack.home / "plugins"), where
    sql_dir = stack.home / LAYOUTS[layout]["include"] / "sql"
    assert Path(where["sql_dir"]) == sql_dir.resolve(), where
    return where


def _recipe(
    stack: Standalone,
    version: str,
    admin: requests.Session,
    caller: requests.Session,
    reads: SimpleNamespace,
    run_id: str,
) -> dict[str, Any]:
    """docs/deploy-existing-airflow.md's steps after start: the DAG is served without an import
    error, unpause it if paused, POST a run, poll it to its end, read main_etl's summary; the
    summary and the results row hold the independent count. Returns the summary."""
    api = f"{stack.base_url}/api/{version}"
    dag = stack.wait_for(f"{DAG_ID} served by the API", lambda: (r := admin.get(
        f"{api}/dags/{DAG_ID}", timeout=10)).status_code == 200 and r.json(),
        DAG_SERVED_TIMEOUT)  # fmt: skip
    stack.mark("DAG served")
    errors = admin.get(f"{api}/importErrors", timeout=30).json()
    ours = [e for e in errors["import_errors"] if "rest_trigger" in e["filename"]]
    assert not ours, ours
    if dag["is_paused"]:  # stock Airflow pauses new DAGs: unpause, as a team does
        answer = admin.patch(f"{api}/dags/{DAG_ID}", json={"is_paused": False}, timeout=30)
        assert answer.status_code == 200 and answer.json()["is_paused"] is False, answer.text

    body = {"dag_run_id": run_id, "conf": DEMO_CONF}
    if version == "v2":
        body["logical_date"] = None  # /api/v2 requires the key; null: "now", no data interval
    answer = caller.post(f"{api}/dags/{DAG_ID}/dagRuns", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    posted = time.monotonic()
    state = stack.wait_for("the run to finish", lambda: (s := caller.get(
        f"{api}/dags/{DAG_ID}/dagRuns/{run_id}", timeout=10,
    ).json()["state"]) in ("success", "failed") and s, RUN_TIMEOUT, 0.5)  # fmt: skip
    stack.timings["POST -> end"] = round(time.monotonic() - posted, 1)
    stack.mark("run ended")
    assert state == "success"

    entry = caller.get(
        f"{api}/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{MAIN_ETL}/xcomEntries/return_value",
        timeout=30,
    )
    assert entry.status_code == 200, entry.text
    summary = parse_text(entry.json()["value"])  # stock 2.11 gives its text form
    expected = _expected_total(reads)
    assert summary == {"dag_run_id": run_id, **DEMO_CONF, "total": expected}
    assert results_rows(reads, run_id) == [(42, 7, "2024-01-01", "2024-03-31", expected)]
    assert stack.plugin_import_errors() == []
    # The airflow.cfg Airflow generated (at its first import, in _which_package) is its own:
    # examples on, new DAGs paused; the settings above came from the environment.
    cfg = generated_cfg_settings(stack.home)
    assert (cfg["core.load_examples"], cfg["core.dags_are_paused_at_creation"]) == ("True", "True")
    if version == "v1":  # 2.11's default: the UI's session only; the env var added basic auth
        assert cfg["api.auth_backends"] == "airflow.api.auth.backend.session"
    return summary


def _session(auth: tuple[str, str] | None = None, token: str | None = None) -> requests.Session:
    session = requests.Session()
    session.auth = auth
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def _fresh_home(tmp_path: Path, layout: str) -> Path:
    home = tmp_path / "airflow"
    home.mkdir()
    assert not any(home.iterdir())  # fresh and empty: Airflow generates the rest
    copy_product(home, layout)
    return home


def _log_ports() -> dict[str, str]:
    # Port plumbing, not project settings: free ports for the log servers (stock: 8793, 8794)
    # so that this Airflow can run beside the other stacks on this machine.
    return {
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }


@pytest.mark.e2e
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_dropin_on_stock_airflow_2(tmp_path: Path, warehouse: Any, layout: str) -> None:
    reads = _seeded_warehouse(warehouse)
    home = _fresh_home(tmp_path, layout)
    port = free_port()
    env = child_env(
        VENV2, home,
        AIRFLOW_CONN_REDSHIFT_DEFAULT=redshift_conn(warehouse),
        AIRFLOW__API__AUTH_BACKENDS=AUTH_BACKENDS,
        AIRFLOW__WEBSERVER__WEB_SERVER_PORT=str(port),  # port plumbing (stock: 8080)
        **_log_ports(),
    )  # fmt: skip
    stack = Standalone(VENV2, home, port, env)
    where = _assert_dropin(stack, layout)
    run_id = f"dropin-{layout}-{int(time.time())}"
    caller = ("caller", f"caller-{run_id}")
    try:
        stack.start()
        stack.wait_for("a healthy metadatabase and scheduler", lambda: all(
            requests.get(f"{stack.base_url}/api/v1/health", timeout=10).json()[part]["status"]
            == "healthy" for part in ("metadatabase", "scheduler")), HEALTHY_TIMEOUT)  # fmt: skip
        stack.mark("healthy")
        password_file = home / "standalone_admin_password.txt"
        admin = ("admin", stack.wait_for("the admin's password", password_file.read_text, 60))
        # The caller, with Airflow's own CLI; no --password: FAB's CLI asks twice with getpass,
        # which reads stdin without a terminal, so the password is on no command line.
        stack.airflow("users", "create", "--username", caller[0], "--role", "User",
                      "--firstname", "Rest", "--lastname", "Caller",
                      "--email", "caller@example.com",
                      stdin=f"{caller[1]}\n{caller[1]}\n")  # fmt: skip
        stack.mark("caller created")
        summary = _recipe(stack, "v1", _session(admin), _session(caller), reads, run_id)
        _say(f"\n[dropin 2.11 {layout}] imported from {where}; summary {summary}")
    except BaseException:
        _say(stack.diagnostics(run_id))
        raise
    finally:
        killed = stack.stop()
        _print_timings(f"2.11 {layout}", stack, _cfg(home))
    assert not killed, f"left running after SIGTERM, killed: {killed}"


@pytest.mark.airflow3
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_dropin_on_stock_airflow_3(tmp_path: Path, warehouse: Any, layout: str) -> None:
    """The same on Airflow 3.3.2 with its stock auth: SimpleAuthManager, the admin whose
    password standalone generates, a JWT from POST /auth/token, /api/v2. Stock 3.x has no
    other user to create without configuration ([core] simple_auth_manager_users), so the
    admin calls."""
    if not AIRFLOW3_PYTHON.exists():
        pytest.skip(f"no {AIRFLOW3_PYTHON}: `make venv-airflow3` builds it")
    reads = _seeded_warehouse(warehouse)
    home = _fresh_home(tmp_path, layout)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = child_env(
        VENV3, home,
        AIRFLOW_CONN_REDSHIFT_DEFAULT=redshift_conn(warehouse),
        # Port plumbing, not project settings: the API server's port (stock 8080), the URL it
        # is reached at, and the execution API's URL the task processes call (stock:
        # http://localhost:8080/execution/, which would be some other stack here).
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=base_url,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base_url}/execution/",
        **_log_ports(),
    )  # fmt: skip
    stack = Standalone(VENV3, home, port, env)
    where = _assert_dropin(stack, layout)
    run_id = f"dropin3-{layout}-{int(time.time())}"
    try:
        stack.start()
        parts = ("metadatabase", "scheduler", "dag_processor")
        stack.wait_for("a healthy metadatabase, scheduler and DAG processor", lambda: all(
            requests.get(f"{base_url}/api/v2/monitor/health", timeout=10).json()[part]["status"]
            == "healthy" for part in parts), HEALTHY_TIMEOUT)  # fmt: skip
        stack.mark("healthy")
        passwords = home / "simple_auth_manager_passwords.json.generated"
        password = stack.wait_for(
            "the admin's password", lambda: json.loads(passwords.read_text())["admin"], 60
        )
        answer = requests.post(f"{base_url}/auth/token", timeout=30,
                               json={"username": "admin", "password": password})  # fmt: skip
        assert answer.status_code in (200, 201), answer.text
        admin = _session(token=answer.json()["access_token"])
        summary = _recipe(stack, "v2", admin, admin, reads, run_id)
        _say(f"\n[dropin 3.3.2 {layout}] imported from {where}; summary {summary}")
    except BaseException:
        _say(stack.diagnostics(run_id))
        raise
    finally:
        killed = stack.stop()
        _print_timings(f"3.3.2 {layout}", stack, _cfg(home))
    assert not killed, f"left running after SIGTERM, killed: {killed}"


def _cfg(home: Path) -> dict[str, str]:
    return generated_cfg_settings(home) if (home / "airflow.cfg").exists() else {}
