"""Security against the live API: the caller account's permission matrix (with a second DAG in
the DAG folder), no password on a command line or in a log, the password-guessing throttle, and
the credential cache on and off.

Two stacks of their own, started the way `make run` starts (the launcher, on free ports). The
secure one runs two webserver workers, as airflow.cfg does: the throttle's counts and known
logins are shared by them (the metadata database), and its tests choose which worker answers
each request (gunicorn_workers.Router) to show it; each throttle test locks a loopback address
of its own. The credential cache is per worker, so its test keeps to one. The stock-auth stack
has one worker.

Over 250 lines because both stacks are module-scoped (each takes minutes to start): the tests
that share one stay in one module.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL, PUSHER
from rest_trigger_local.settings import PROJECT_DIR
from tests.e2e.gunicorn_workers import Router, login_from, worker_pids
from tests.support.airflow_stack import AirflowStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

CONF = DEMO_CONF
RUNS = f"/dags/{DAG_ID}/dagRuns"
OTHER = "other-dag"
OTHER_DAG_FILE = """
from __future__ import annotations

import datetime as dt

from airflow.decorators import dag, task


@dag(dag_id="other-dag", schedule=None, start_date=dt.datetime(2024, 1, 1), catchup=False)
def other_dag():
    @task
    def hello() -> str:
        return "hello"

    hello()


other_dag()
"""
STOCK_BACKENDS = (
    "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
    "airflow.api.auth.backend.session"
)
# The throttle's limits as airflow.cfg sets them ([rest_trigger_api]).
PER_USER, PER_ADDRESS, WINDOW = 5, 20, 300


def dag_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="rest-trigger-test-dags-"))
    shutil.copy(PROJECT_DIR / "dags" / "rest_trigger.py", folder)
    (folder / "other_dag.py").write_text(OTHER_DAG_FILE)
    return folder


def passwords() -> dict[str, str]:
    """Logins that are not the local-only defaults, so they must never be shown."""
    return {
        "AIRFLOW_ADMIN_USER": "person",
        "AIRFLOW_ADMIN_PASSWORD": "adm-" + secrets.token_urlsafe(16),
        "AIRFLOW_CALLER_USER": "other-system",
        "AIRFLOW_CALLER_PASSWORD": "cal-" + secrets.token_urlsafe(16),
    }


@pytest.fixture(scope="module")
def secure_stack() -> Iterator[tuple[AirflowStack, Path, dict[str, str]]]:
    logins = passwords()
    exec_log = Path(tempfile.mkdtemp(prefix="rest-trigger-test-exec-")) / "argv.jsonl"
    stack = start_stack(
        module="tests.support.audited_launcher",
        REST_TRIGGER_TEST_EXEC_LOG=str(exec_log),
        AIRFLOW__CORE__DAGS_FOLDER=str(dag_folder()),
        AIRFLOW__WEBSERVER__WORKERS="2",  # airflow.cfg's, stated: the throttle tests need two
        # Long enough that no test depends on how fast the machine is.
        AIRFLOW__REST_TRIGGER_API__CREDENTIAL_CACHE_SECONDS="3600",
        DEMO_ROWS="2000",
        **logins,
    )
    try:
        yield stack, exec_log, logins
    finally:
        leftovers = stop_stack(stack)
    assert not leftovers, leftovers


@pytest.fixture(scope="module")
def stock_auth_stack() -> Iterator[AirflowStack]:
    """The cache switched off the documented way: FAB's own backend in [api] auth_backends."""
    stack = start_stack(
        AIRFLOW__API__AUTH_BACKENDS=STOCK_BACKENDS,
        AIRFLOW__WEBSERVER__WORKERS="1",
        DEMO_ROWS="2000",
    )
    try:
        yield stack
    finally:
        leftovers = stop_stack(stack)
    assert not leftovers, leftovers


def as_caller(stack: AirflowStack, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack.api}{path}", auth=stack.caller, timeout=60, **kwargs)


def as_admin(stack: AirflowStack, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack.api}{path}", auth=stack.auth, timeout=60, **kwargs)


def login(stack: AirflowStack, username: str, password: str) -> requests.Response:
    return requests.get(f"{stack.api}/dags", auth=(username, password), timeout=60)


def wait_for_caller_run(stack: AirflowStack, run_id: str) -> dict[str, Any]:
    """Polls as the caller: reading its runs is part of what it may do."""
    for _ in range(360):
        run = as_caller(stack, "GET", f"{RUNS}/{run_id}")
        assert run.status_code == 200, run.text
        if run.json()["state"] in ("success", "failed"):
            return run.json()
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish")


def create_user(stack: AirflowStack, username: str, password: str) -> None:
    body = {
        "username": username, "password": password, "email": f"{username}@localhost",
        "first_name": "Test", "last_name": "User", "roles": [{"name": "RestTriggerCaller"}],
    }  # fmt: skip
    created = as_admin(stack, "POST", "/users", json=body)
    assert created.status_code == 200, created.text


def change_password(stack: AirflowStack, username: str, password: str) -> None:
    body = {
        "username": username, "password": password, "email": f"{username}@localhost",
        "first_name": "Test", "last_name": "User",
    }  # fmt: skip
    changed = as_admin(
        stack, "PATCH", f"/users/{username}", params={"update_mask": "password"}, json=body
    )
    assert changed.status_code == 200, changed.text


# -- the caller may ------------------------------------------------------------------------
def test_caller_sees_only_rest_trigger(secure_stack) -> None:
    stack, _, _ = secure_stack
    every = as_admin(stack, "GET", "/dags").json()["dags"]
    assert sorted(d["dag_id"] for d in every) == [OTHER, DAG_ID]  # both are there
    mine = as_caller(stack, "GET", "/dags")
    assert mine.status_code == 200
    assert [d["dag_id"] for d in mine.json()["dags"]] == [DAG_ID]
    assert as_caller(stack, "GET", f"/dags/{DAG_ID}").status_code == 200


def test_caller_triggers_and_reads_its_run_tasks_xcom_and_logs(secure_stack) -> None:
    stack, _, _ = secure_stack
    posted = as_caller(stack, "POST", RUNS, json={"dag_run_id": "caller-1", "conf": CONF})
    assert posted.status_code == 200, posted.text
    assert wait_for_caller_run(stack, "caller-1")["state"] == "success"
    listed = as_caller(stack, "GET", RUNS).json()["dag_runs"]
    assert "caller-1" in [r["dag_run_id"] for r in listed]
    # Many runs in one request per poll (the trigger client's wait_many).
    batch = as_caller(stack, "POST", "/dags/~/dagRuns/list", json={"dag_ids": [DAG_ID]})
    assert batch.status_code == 200, batch.text
    assert "caller-1" in [r["dag_run_id"] for r in batch.json()["dag_runs"]]
    tis = as_caller(stack, "GET", f"{RUNS}/caller-1/taskInstances")
    assert tis.status_code == 200
    assert sorted(t["task_id"] for t in tis.json()["task_instances"]) == [
        MAIN_ETL, PUSHER,
    ]  # fmt: skip
    ti = as_caller(stack, "GET", f"{RUNS}/caller-1/taskInstances/{MAIN_ETL}")
    assert ti.json()["state"] == "success"
    xcoms = as_caller(stack, "GET", f"{RUNS}/caller-1/taskInstances/{MAIN_ETL}/xcomEntries")
    assert "return_value" in [x["key"] for x in xcoms.json()["xcom_entries"]]
    value = as_caller(
        stack, "GET", f"{RUNS}/caller-1/taskInstances/{MAIN_ETL}/xcomEntries/return_value",
        params={"deserialize": "true", "stringify": "false"},
    )  # fmt: skip
    assert value.status_code == 200
    assert value.json()["value"]["dag_run_id"] == "caller-1"
    log = as_caller(
        stack, "GET", f"{RUNS}/caller-1/taskInstances/{MAIN_ETL}/logs/1",
        params={"full_content": "true"}, headers={"Accept": "text/plain"},
    )  # fmt: skip
    assert log.status_code == 200
    assert f"total={value.json()['value']['total']}" in log.text


# -- the caller may not --------------------------------------------------------------------
def test_caller_cannot_touch_the_installation(secure_stack) -> None:
    """Connections, variables, pools, config, users, roles: each refused to the caller and
    answered to the admin (so the 403 is the permission, not a missing endpoint)."""
    stack, _, logins = secure_stack
    reads = ["/connections", "/variables", "/pools", "/users", "/roles", "/permissions"]
    for path in reads:
        assert as_admin(stack, "GET", path).status_code == 200, path
        refused = as_caller(stack, "GET", path)
        assert refused.status_code == 403, (path, refused.text)
    # Config: expose_config is off, so even the admin gets 403, but with Airflow's reason;
    # the caller is refused before that, by permission.
    admin_config = as_admin(stack, "GET", "/config").json()
    caller_config = as_caller(stack, "GET", "/config")
    assert caller_config.status_code == 403
    assert caller_config.json()["detail"] != admin_config["detail"]
    writes = [
        ("POST", "/connections", {"connection_id": "x", "conn_type": "http"}),
        ("POST", "/variables", {"key": "x", "value": "y"}),
        ("POST", "/pools", {"name": "x", "slots": 1}),
        ("PATCH", "/pools/default_pool", {"name": "default_pool", "slots": 1}),
        ("POST", "/roles", {"name": "x", "actions": []}),
        (
            "PATCH",
            f"/users/{logins['AIRFLOW_CALLER_USER']}",
            {
                "username": logins["AIRFLOW_CALLER_USER"],
                "email": "x@localhost",
                "first_name": "x",
                "last_name": "x",
                "roles": [{"name": "Admin"}],
            },
        ),
    ]
    for method, path, body in writes:
        refused = as_caller(stack, method, path, json=body)
        assert refused.status_code == 403, (method, path, refused.text)
    assert as_admin(stack, "GET", "/variables").json()["total_entries"] == 0
    assert as_admin(stack, "GET", "/pools/default_pool").json()["slots"] == 128
    roles = as_admin(stack, "GET", f"/users/{logins['AIRFLOW_CALLER_USER']}").json()["roles"]
    assert roles == [{"name": "RestTriggerCaller"}]


def test_caller_cannot_pause_delete_clear_or_mark(secure_stack) -> None:
    stack, _, _ = secure_stack
    as_caller(stack, "POST", RUNS, json={"dag_run_id": "caller-2", "conf": CONF})
    assert wait_for_caller_run(stack, "caller-2")["state"] == "success"
    attempts = [
        ("PATCH", f"/dags/{DAG_ID}", {"is_paused": True}, {"update_mask": "is_paused"}),
        ("PATCH", "/dags", {"is_paused": True}, {"dag_id_pattern": "rest"}),
        ("DELETE", f"{RUNS}/caller-2", None, None),
        ("PATCH", f"{RUNS}/caller-2", {"state": "failed"}, None),
        ("POST", f"{RUNS}/caller-2/clear", {"dry_run": False}, None),
        (
            "POST",
            f"/dags/{DAG_ID}/clearTaskInstances",
            {"dag_run_id": "caller-2", "task_ids": [MAIN_ETL], "dry_run": False},
            None,
        ),
        ("PATCH", f"{RUNS}/caller-2/taskInstances/{MAIN_ETL}", {"new_state": "failed"}, None),
        (
            "POST",
            f"/dags/{DAG_ID}/updateTaskInstancesState",
            {"dag_run_id": "caller-2", "task_id": MAIN_ETL, "new_state": "failed"},
            None,
        ),
        ("DELETE", f"/dags/{DAG_ID}", None, None),
    ]
    for method, path, body, params in attempts:
        refused = as_caller(stack, method, path, json=body, params=params)
        assert refused.status_code == 403, (method, path, refused.text)
    dag = as_admin(stack, "GET", f"/dags/{DAG_ID}").json()
    assert dag["is_paused"] is False
    run = as_admin(stack, "GET", f"{RUNS}/caller-2").json()
    assert run["state"] == "success"
    ti = as_admin(stack, "GET", f"{RUNS}/caller-2/taskInstances/{MAIN_ETL}").json()
    assert (ti["state"], ti["try_number"]) == ("success", 1)


def test_caller_cannot_see_or_trigger_another_dag(secure_stack) -> None:
    stack, _, _ = secure_stack
    other = f"/dags/{OTHER}/dagRuns"
    started = as_admin(stack, "POST", other, json={"dag_run_id": "admins-run"})
    assert started.status_code == 200, started.text
    for method, path, body in [
        ("GET", f"/dags/{OTHER}", None),
        ("GET", f"/dags/{OTHER}/details", None),
        ("GET", other, None),
        ("GET", f"{other}/admins-run", None),
        ("GET", f"{other}/admins-run/taskInstances", None),
        ("POST", other, {"dag_run_id": "callers-run"}),
        ("PATCH", f"/dags/{OTHER}", {"is_paused": True}),
    ]:
        refused = as_caller(stack, method, path, json=body)
        assert refused.status_code == 403, (method, path, refused.text)
    assert as_admin(stack, "GET", f"{other}/callers-run").status_code == 404
    # The cross-DAG listings ("~" for every DAG) either refuse the caller or leave the other
    # DAG out: never show its runs or task instances.
    runs = as_caller(stack, "GET", "/dags/~/dagRuns")
    assert runs.status_code == 403 or {r["dag_id"] for r in runs.json()["dag_runs"]} == {DAG_ID}
    for body in ({"dag_ids": [OTHER]}, {"dag_ids": [OTHER, DAG_ID]}, {}):
        batch = as_caller(stack, "POST", "/dags/~/dagRuns/list", json=body)
        assert batch.status_code == 200, (body, batch.text)
        assert {r["dag_id"] for r in batch.json()["dag_runs"]} <= {DAG_ID}, body
    assert "admins-run" in [
        r["dag_run_id"]
        for r in as_admin(stack, "POST", "/dags/~/dagRuns/list", json={}).json()["dag_runs"]
    ]  # the admin's run is there; only the caller is shown none of it
    tis = as_caller(
        stack, "POST", "/dags/~/dagRuns/~/taskInstances/list", json={"dag_ids": [OTHER]}
    )
    assert tis.status_code == 403 or tis.json()["task_instances"] == []


# -- secrets -------------------------------------------------------------------------------
def test_no_password_on_a_command_line_or_in_a_log(secure_stack) -> None:
    stack, exec_log, logins = secure_stack
    state = stack.state_dir
    store = json.loads((state / "secrets.json").read_text())
    hidden = {
        "admin password": logins["AIRFLOW_ADMIN_PASSWORD"],
        "caller password": logins["AIRFLOW_CALLER_PASSWORD"],
        "metadata DB password": store["metadb_password"],
        "fernet key": store["fernet_key"],
        "webserver secret key": store["webserver_secret_key"],
        "PostgreSQL superuser password": (state / "postgres-superuser.password")
        .read_text()
        .strip(),
    }
    # Every command line the launcher started (initdb, pg_ctl, airflow db migrate, the
    # accounts, the scheduler, the webserver), recorded by an audit hook as it started them.
    started = [json.loads(line) for line in exec_log.read_text().splitlines()]
    assert any("deploy.accounts" in argv for argv in started)
    assert any(argv[-1:] == ["webserver"] for argv in started)
    # And every process running now: what those started in turn (gunicorn, PostgreSQL...).
    family = psutil.Process(stack.process.pid).children(recursive=True)
    running = [p.cmdline() for p in family if p.is_running()]
    assert len(running) >= 4
    # And every log the stack wrote, the launcher's own output included.
    logs = [p for p in state.rglob("*") if p.is_file() and p.suffix in (".log", ".out")]
    assert any(p.name == "webserver.log" for p in logs)
    for name, value in hidden.items():
        for argv in started + running:
            assert not any(value in arg for arg in argv), f"{name} on a command line: {argv}"
        for path in logs:
            assert value not in path.read_text(errors="replace"), f"{name} in {path}"
    # The banner names the variables instead of showing passwords that are not defaults.
    banner = stack.wait_for_output("Ctrl-C stops everything.")
    assert "$AIRFLOW_ADMIN_PASSWORD" in banner
    assert f"-u other-system:$AIRFLOW_CALLER_PASSWORD -X POST {stack.api}" in banner


def test_ui_is_not_frameable_and_sessions_last_hours(secure_stack) -> None:
    stack, _, _ = secure_stack
    page = requests.get(f"{stack.base_url}/login/", timeout=60)
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"  # x_frame_enabled = False
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; the README says to turn it on behind TLS
    # The session cookie's lifetime, both times from the server's clock in the same answer.
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    sent = parsedate_to_datetime(page.headers["Date"])
    assert abs((expires - sent).total_seconds() - 8 * 3600) < 60


# -- the credential cache, on (before the throttle tests, which lock this address) ---------
def test_with_the_cache_a_changed_password_is_accepted_until_the_entry_expires(
    secure_stack,
) -> None:
    """The trade the README states: the old password keeps working for up to
    credential_cache_seconds (60 by default; an hour in this stack) after a change."""
    stack, _, _ = secure_stack
    username = "cache-on"
    old, new = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    create_user(stack, username, old)
    router = Router(stack)  # the cache is per worker: every request to the same one
    try:
        first = login(stack, username, old)
        assert first.status_code == 200
        change_password(stack, username, new)
        assert login(stack, username, old).status_code == 200  # remembered
        assert login(stack, username, new).status_code == 200
    finally:
        router.close()


# -- the throttle: counted across both workers, each test from a loopback address of its own --
def fail_count(stack: AirflowStack, username: str) -> int:
    """FAB counts a failed login when it has checked the password against the user's hash:
    the count says how many times the hash was run for a wrong password."""
    return as_admin(stack, "GET", f"/users/{username}").json()["fail_login_count"]


def codes_by_worker(answers: list[tuple[int, int]]) -> str:
    """(worker pid, status) per request, for failure messages."""
    return ", ".join(f"{status}@{pid}" for pid, status in answers)


def test_guessing_one_users_password_is_throttled_on_both_workers_without_running_the_hash(
    secure_stack,
) -> None:
    stack, _, _ = secure_stack
    target, password = "guess-target", secrets.token_urlsafe(12)
    create_user(stack, target, password)
    router = Router(stack)
    answers = []
    try:
        for n in range(PER_USER + 10):  # worker one, worker two, worker one...
            answers.append((router.answering, login_from(stack, "127.0.0.11", target, f"g{n}")))
            router.switch()
        right = login_from(stack, "127.0.0.11", target, password)
    finally:
        router.close()
    seen = codes_by_worker([(pid, a.status) for pid, a in answers])
    print(f"\nguesses for one name, status@worker: {seen}; right password: {right.status}")  # noqa: T201
    assert [a.status for _, a in answers] == [403] * PER_USER + [429] * 10, seen
    assert len({pid for pid, _ in answers[:PER_USER]}) == 2, seen  # both answered the five
    retry = [int(a.headers["Retry-After"]) for _, a in answers[PER_USER:]]
    assert all(0 < r <= WINDOW for r in retry), retry
    assert "too many failed logins" in json.loads(answers[-1][1].body)["detail"]
    # The hash ran for the first five only: the ten refused with 429 never reached it.
    assert fail_count(stack, target) == PER_USER
    # The right password, never verified before, is refused as well: a lock that opened for
    # it would tell the guesser it was right.
    assert right.status == 429
    assert fail_count(stack, target) == PER_USER
    # The caller is unaffected, and can still trigger.
    assert as_caller(stack, "GET", f"/dags/{DAG_ID}").status_code == 200


def restart_webserver(stack: AirflowStack) -> float:
    """SIGKILL the webserver as the OOM killer would; the launcher starts it again. Seconds
    until the API answered."""
    killed = time.monotonic()
    before = stack.output.read_text().count("airflow webserver restarted")
    os.kill(pid_of(stack, "webserver"), signal.SIGKILL)
    deadline = killed + 240
    while stack.output.read_text().count("airflow webserver restarted") == before:
        assert time.monotonic() < deadline, stack.log_tail()
        time.sleep(0.5)
    while True:
        try:
            if as_admin(stack, "GET", f"/dags/{DAG_ID}").status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, stack.log_tail()
        time.sleep(1)
    while len(worker_pids(stack)) < 2:  # gunicorn starts its workers one after the other
        assert time.monotonic() < deadline, stack.log_tail()
        time.sleep(0.5)
    return time.monotonic() - killed


def pid_of(stack: AirflowStack, name: str) -> int:
    entry = json.loads((stack.state_dir / "processes.json").read_text())[name]
    return entry["pid"] if isinstance(entry, dict) else entry


def test_a_caller_with_the_right_password_is_not_locked_out_by_guesses_at_its_name(
    secure_stack,
) -> None:
    """What main got wrong with two workers: the worker that had not verified the caller's
    password refused it with 429 once someone had guessed at its name. A caller account of its
    own, verified by one worker only; guesses from another address, answered by the other."""
    stack, _, _ = secure_stack
    caller, password = "second-caller", secrets.token_urlsafe(12)
    create_user(stack, caller, password)
    guesser, mine = "127.0.0.12", "127.0.0.1"
    router = Router(stack)
    answers: list[tuple[int, int]] = []
    try:
        verified_by = router.answering
        assert login_from(stack, mine, caller, password).status == 200
        router.switch()  # from here on the other worker, which has never seen the password
        guesses = []
        first_guess_at = time.monotonic()
        for n in range(PER_USER + 2):
            guesses.append(login_from(stack, guesser, caller, f"guess-{n}"))
            answers.append((router.answering, guesses[-1].status))
        assert [g.status for g in guesses] == [403] * PER_USER + [429] * 2, answers
        assert 0 < int(guesses[-1].headers["Retry-After"]) <= WINDOW
        for _ in range(2):
            answers.append((router.answering, login_from(stack, mine, caller, password).status))
            router.switch()
        assert {pid for pid, _ in answers[-2:]} == set(router.workers), answers
        assert answers[-1][0] == verified_by
    finally:
        router.close()
    assert [status for _, status in answers[-2:]] == [200, 200], codes_by_worker(answers)
    # Whichever worker the kernel picks: new connections, no routing.
    fresh = [login_from(stack, mine, caller, password).status for _ in range(12)]
    assert fresh == [200] * 12, fresh

    # After a restart: new workers, empty caches; the lock and the known login are still there.
    took = restart_webserver(stack)
    print(f"\nwebserver restart: API answering again after {took:.1f} s")  # noqa: T201
    in_window = WINDOW - (time.monotonic() - first_guess_at)
    assert in_window > 5, f"the restart took {took:.0f} s: the lock has expired, nothing shown"
    still = login_from(stack, guesser, caller, "guess-after-restart")
    assert still.status == 429, (still.status, still.body)
    router = Router(stack)
    after: list[tuple[int, int]] = []
    try:
        for _ in range(2):
            after.append((router.answering, login_from(stack, mine, caller, password).status))
            router.switch()
    finally:
        router.close()
    print(  # noqa: T201
        f"\nstatus@worker: before the restart {codes_by_worker(answers)}, 12 fresh: {fresh};"
        f" after it: guess {still.status}, right {codes_by_worker(after)}"
    )
    assert [status for _, status in after] == [200, 200], codes_by_worker(after)
    assert len({pid for pid, _ in after}) == 2, after


def test_guessing_from_one_address_is_throttled_and_known_callers_are_unaffected(
    secure_stack,
) -> None:
    stack, _, logins = secure_stack
    address = "127.0.0.13"
    caller_before = fail_count(stack, logins["AIRFLOW_CALLER_USER"])
    late_user, late_password = "late-user", secrets.token_urlsafe(12)
    create_user(stack, late_user, late_password)
    codes = [
        login_from(stack, address, f"nobody-{uuid.uuid4().hex[:8]}", "guess").status
        for _ in range(PER_ADDRESS + 5)
    ]
    assert codes == [403] * PER_ADDRESS + [429] * 5
    # A known login (verified before, by either worker) still works from there, the admin's
    # too...
    assert login_from(stack, address, *stack.caller).status == 200
    assert login_from(stack, address, *stack.auth).status == 200
    assert fail_count(stack, logins["AIRFLOW_CALLER_USER"]) == caller_before
    # ...while a login never verified waits, like a guess, until Retry-After; from another
    # address it is checked.
    late = login_from(stack, address, late_user, late_password)
    assert late.status == 429
    assert 0 < int(late.headers["Retry-After"]) <= WINDOW
    assert login_from(stack, "127.0.0.14", late_user, late_password).status == 200


# -- the credential cache switched off (a stack of its own) -----------------------------------
def test_with_fabs_backend_named_there_is_no_cache_and_no_throttle(stock_auth_stack) -> None:
    stack = stock_auth_stack
    username = "cache-off"
    old, new = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    create_user(stack, username, old)
    assert login(stack, username, old).status_code == 200
    change_password(stack, username, new)
    assert login(stack, username, old).status_code == 403  # refused at once
    assert login(stack, username, new).status_code == 200
    codes = [login(stack, username, f"guess-{n}").status_code for n in range(PER_USER + 3)]
    assert codes == [403] * (PER_USER + 3)
    assert fail_count(stack, username) == PER_USER + 3  # every guess ran the hash
    # The caller role works the same under FAB's backend.
    posted = as_caller(stack, "POST", RUNS, json={"dag_run_id": "stock-auth", "conf": CONF})
    assert posted.status_code == 200, posted.text
