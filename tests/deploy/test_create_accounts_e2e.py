"""deploy/create_accounts.sh, the way a team runs it on any FAB-based Airflow: in a fresh
AIRFLOW_HOME with Airflow's defaults (SQLite, FAB auth manager) plus the project's dags/ and
plugins/, Airflow's own commands make the caller's role from deploy/roles/rest_trigger_caller.json
and both users, passwords on stdin. `airflow roles export` must give back the file and
`airflow users list` the users; no password may show in a process's command line. Then a second
run (what a second `docker compose up` does, with `python -m deploy.accounts --caller-only`
after it) must succeed and make the caller's password follow the environment.

About 1.5 min on the shared 2-core machine: each of its 17 commands is an Airflow start-up.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from werkzeug.security import check_password_hash

from deploy import accounts

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "deploy" / "create_accounts.sh"
VENV_BIN = Path(sys.executable).parent

LOGINS = {
    "AIRFLOW_ADMIN_USER": "admin",
    "AIRFLOW_ADMIN_PASSWORD": "adm-Pw 1$(not run)",
    "AIRFLOW_CALLER_USER": "caller",
    "AIRFLOW_CALLER_PASSWORD": "caller-Pw 2;`x`",
}
NEW_CALLER_PASSWORD = "caller-Pw 3 rotated"


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the test session's Airflow settings (tests/conftest.py
    sets its own AIRFLOW_HOME and AIRFLOW__*), so the commands see Airflow's defaults."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "REST_TRIGGER_"))
        and key not in {"AIRFLOW_CONFIG", "AIRFLOW_HOME", *LOGINS}
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT / "dags"),
        # The DAG imports rest_trigger_etl, which lives in plugins/.
        AIRFLOW__CORE__PLUGINS_FOLDER=str(PROJECT / "plugins"),
        # Only to keep it fast (no example DAGs to serialize and make permissions for).
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        # The venv's `airflow` first, as an image's or a host's PATH has it.
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra or {})
    return env


@contextmanager
def command_lines_seen() -> Iterator[list[list[str]]]:
    """Every command line of this process's descendants, sampled every 50 ms: what `ps` would
    have shown while the block ran (each Airflow command lives for seconds)."""
    seen: list[list[str]] = []
    done = threading.Event()

    def sample() -> None:
        me = psutil.Process()
        while not done.is_set():
            for child in me.children(recursive=True):
                try:
                    cmdline = child.cmdline()
                except psutil.Error:  # gone between listing and reading
                    continue
                if cmdline and cmdline not in seen:
                    seen.append(cmdline)
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()


def run(
    args: list[str], env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, env=env, cwd=PROJECT, input=stdin, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}\n--- stdout (last 40 lines)\n"
            + "\n".join(result.stdout.splitlines()[-40:])
            + "\n--- stderr (last 40 lines)\n"
            + "\n".join(result.stderr.splitlines()[-40:])
        )
    return result


def exported_permissions(home: Path, env: Mapping[str, str]) -> set[tuple[str, str]]:
    out = home / "roles-export.json"
    run(["airflow", "roles", "export", str(out)], env)
    entries = json.loads(out.read_text(encoding="utf-8"))
    return {
        (action, entry["resource"])
        for entry in entries
        if entry["name"] == accounts.CALLER_ROLE
        for action in entry["action"].split(",")
    }


def users(env: Mapping[str, str]) -> dict[str, list[str]]:
    listed = run(["airflow", "users", "list", "-o", "json"], env).stdout
    # The JSON is the last line; Airflow may print warnings before it.
    rows = json.loads(listed.strip().splitlines()[-1])
    return {row["username"]: row["roles"] for row in rows}


def password_matches(home: Path, username: str, password: str) -> bool:
    with sqlite3.connect(home / "airflow.db") as db:
        (hashed,) = db.execute(
            "SELECT password FROM ab_user WHERE username = ?", (username,)
        ).fetchone()
    return check_password_hash(hashed, password)


def test_airflow_commands_make_the_role_from_the_file_and_the_users(tmp_path: Path) -> None:
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = clean_env(home, LOGINS)
    wanted = set(accounts.caller_permissions())

    with command_lines_seen() as seen:
        first = run(["bash", str(SCRIPT)], env)
    # Passwords reached FAB's getpass on stdin: in no command line (the sampling did see the
    # commands that read them).
    assert any("users" in argv and "create" in argv for argv in seen), seen
    for name in ("AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_CALLER_PASSWORD"):
        assert not any(LOGINS[name] in arg for argv in seen for arg in argv), name
    assert 'User "caller" created with role "RestTriggerCaller"' in first.stdout, first.stdout

    assert exported_permissions(home, env) == wanted
    assert users(env) == {"admin": ["Admin"], "caller": [accounts.CALLER_ROLE]}
    assert password_matches(home, "admin", LOGINS["AIRFLOW_ADMIN_PASSWORD"])
    assert password_matches(home, "caller", LOGINS["AIRFLOW_CALLER_PASSWORD"])

    # A second `docker compose up`: users exist, the caller's password changed in the env.
    again = clean_env(home, {**LOGINS, "AIRFLOW_CALLER_PASSWORD": NEW_CALLER_PASSWORD})
    second = run(["bash", str(SCRIPT)], again)
    assert "caller already exist in the db" in second.stdout, second.stdout
    caller_only = run([sys.executable, "-m", "deploy.accounts", "--caller-only"], again)
    assert "accounts: set the password of 'caller' from the environment" in caller_only.stdout
    assert password_matches(home, "caller", NEW_CALLER_PASSWORD)
    assert password_matches(home, "admin", LOGINS["AIRFLOW_ADMIN_PASSWORD"])  # the person's
    # sync-perm gives every custom role read on Website (FAB's rule, as each webserver start
    # does); `roles import` leaves the existing role otherwise as it was.
    assert exported_permissions(home, again) == wanted | {("can_read", "Website")}
    assert users(again) == {"admin": ["Admin"], "caller": [accounts.CALLER_ROLE]}
