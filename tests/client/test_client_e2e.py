"""The trigger client against the real Airflow of the end-to-end suite: the `rest-trigger`
command as a subprocess (exit codes and output) and the Python API, for success and for each
error a caller can act on.

Over 250 lines because it is the client's whole contract against one real Airflow: one test per
exit code and error the command and the API promise (docs/client.md), the two side by side, with
the helpers both use (paused_dag, the caller's client).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import pty
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from rest_trigger_client import (
    BadCredentials,
    DagNotFound,
    DagPaused,
    ExitCode,
    InvalidInput,
    RestTriggerClient,
    RunConf,
    RunFailed,
    RunIdConflict,
    RunStatus,
    WaitManyProgress,
    WaitTimedOut,
    trigger_and_wait,
)
from rest_trigger_client.many import LOOKBACK, PAGE_LIMIT
from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL, PUSHER
from tests.support.cli import ARGS, CLI, client_env, rest_trigger

pytestmark = pytest.mark.e2e

CONF = DEMO_CONF
RUNS = f"/dags/{DAG_ID}/dagRuns"
# Airflow accepts it (both are dates) and pusher refuses it: the run fails, with a reason.
BACKWARDS = ["--gid", "42", "--sid", "7", "--start", "2024-02-01", "--end", "2024-01-31"]
BACKWARDS_REASON = (
    "AirflowFailException: invalid conf: date_start 2024-02-01 is after date_end 2024-01-31"
)


def cli(stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return rest_trigger(*args, env=client_env(AIRFLOW_URL=stack.base_url, **env))


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line error the command ends with."""
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("rest-trigger: error: "), result.stderr
    return line


def set_paused(stack, paused: bool) -> None:
    response = requests.patch(
        f"{stack.api}/dags/{DAG_ID}",
        params={"update_mask": "is_paused"},
        json={"is_paused": paused},
        auth=stack.auth,
        timeout=30,
    )
    response.raise_for_status()


@pytest.fixture
def paused_dag(airflow_stack) -> Iterator[None]:
    """The DAG paused for one test, and unpaused again whatever happens."""
    set_paused(airflow_stack, True)
    try:
        yield
    finally:
        set_paused(airflow_stack, False)


@pytest.fixture
def client(airflow_stack) -> Iterator[RestTriggerClient]:
    """As other systems use it: with the caller account."""
    with RestTriggerClient(airflow_stack.base_url, *airflow_stack.caller) as api:
        yield api


# -- the command -------------------------------------------------------------------------------
def test_cli_waits_and_reports_the_total(airflow_stack) -> None:
    result = cli(airflow_stack, *ARGS, "--run-id", "client-cli-ok", "--wait")
    assert result.returncode == ExitCode.OK, result.stderr
    summary = airflow_stack.xcom("client-cli-ok", MAIN_ETL)
    assert summary["dag_run_id"] == "client-cli-ok"
    out = result.stdout.splitlines()
    assert out[0].startswith("run client-cli-ok success after ")
    assert [line.split()[:2] for line in out[1:3]] == [
        [PUSHER, "success"],
        [MAIN_ETL, "success"],
    ]
    assert out[3] == f"total: {summary['total']}  (gid 42, sid 7, 2024-01-01..2024-03-31)"
    # Not a terminal: progress is plain lines on stderr, one per change, ending in success.
    progress = result.stderr.strip().splitlines()
    assert "\x1b[" not in result.stderr
    assert all(line.startswith("[") and " s] run " in line for line in progress)
    assert all(f" | {PUSHER} " in s and f" | {MAIN_ETL} " in s for s in progress)
    assert progress[0].split("] ", 1)[1].startswith(("run queued", "run running"))
    assert progress[-1].split("] ", 1)[1].startswith("run success | pusher success")


def test_cli_without_wait_creates_the_run_and_returns(airflow_stack) -> None:
    result = cli(airflow_stack, *ARGS, "--run-id", "client-cli-nowait")
    assert result.returncode == ExitCode.OK, result.stderr
    assert (
        result.stdout.strip() == "run client-cli-nowait created (queued); add --wait to follow it"
    )
    assert airflow_stack.get(f"{RUNS}/client-cli-nowait").json()["conf"] == CONF
    airflow_stack.wait_for_run("client-cli-nowait")


def test_cli_live_progress_on_a_terminal(airflow_stack) -> None:
    """With stderr on a terminal, the progress block is redrawn in place (ANSI)."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(CLI), *ARGS, "--run-id", "client-cli-tty", "--wait"],
            env=client_env(AIRFLOW_URL=airflow_stack.base_url),
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
        )
        os.close(terminal)
        screen = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the command closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        stdout = process.communicate(timeout=300)[0]
    finally:
        os.close(controller)
    assert process.returncode == ExitCode.OK, screen.decode(errors="replace")
    drawn = screen.decode(errors="replace")
    assert "\x1b[3F" in drawn  # back up over the 3-line block (run + 2 tasks) to redraw it
    last_block = drawn.rsplit("\x1b[3F", 1)[1]
    assert "run client-cli-tty: success" in last_block
    for task in (PUSHER, MAIN_ETL):
        assert f"[ok] {task}" in last_block
    assert stdout.startswith("run client-cli-tty success")


def test_cli_invalid_input_is_airflows_400_reason(airflow_stack) -> None:
    result = cli(airflow_stack, *ARGS, "--start", "2024-13-45", "--run-id", "client-cli-400")
    assert result.returncode == ExitCode.INVALID_INPUT
    assert error_line(result) == (
        "rest-trigger: error: Airflow refused run 'client-cli-400' (HTTP 400): "
        "Invalid input for param date_start: '2024-13-45' is not a 'date'"
    )
    assert airflow_stack.get(f"{RUNS}/client-cli-400").status_code == 404


def test_cli_bad_credentials(airflow_stack) -> None:
    result = cli(airflow_stack, *ARGS, "--run-id", "client-cli-403", AIRFLOW_PASSWORD="wrong")
    assert result.returncode == ExitCode.BAD_CREDENTIALS
    assert "refused the credentials of user 'caller' (HTTP 403)" in error_line(result)
    assert len(result.stderr.strip().splitlines()) == 1
    assert airflow_stack.get(f"{RUNS}/client-cli-403").status_code == 404


def test_cli_missing_dag(airflow_stack) -> None:
    # The caller (the default account) may see one DAG: Airflow answers 403 for any other.
    result = cli(airflow_stack, *ARGS, "--dag-id", "no-such-dag")
    assert result.returncode == ExitCode.DAG_UNAVAILABLE
    assert "DAG 'no-such-dag' not found" in error_line(result)
    assert "or user 'caller' may not see it (HTTP 403)" in error_line(result)
    # An account that may see every DAG learns that it does not exist.
    admin = {"AIRFLOW_USERNAME": airflow_stack.auth[0], "AIRFLOW_PASSWORD": airflow_stack.auth[1]}
    result = cli(airflow_stack, *ARGS, "--dag-id", "no-such-dag", **admin)
    assert result.returncode == ExitCode.DAG_UNAVAILABLE
    assert "DAG 'no-such-dag' not found" in error_line(result)
    assert "(HTTP 404)" in error_line(result)


def test_cli_paused_dag_is_refused_then_unpaused(airflow_stack, paused_dag) -> None:
    refused = cli(airflow_stack, *ARGS, "--run-id", "client-cli-paused", "--wait")
    assert refused.returncode == ExitCode.DAG_UNAVAILABLE
    assert f"DAG {DAG_ID!r} is paused" in error_line(refused)
    assert "--unpause" in error_line(refused)
    # Nothing was created to sit queued.
    assert airflow_stack.get(f"{RUNS}/client-cli-paused").status_code == 404

    # The caller account (the default) may not unpause: it says so, and nothing is created.
    denied = cli(airflow_stack, *ARGS, "--run-id", "client-cli-paused", "--wait", "--unpause")
    assert denied.returncode == ExitCode.DAG_UNAVAILABLE
    assert "user 'caller' may not unpause it (HTTP 403)" in error_line(denied)
    assert airflow_stack.get(f"{RUNS}/client-cli-paused").status_code == 404

    admin = {"AIRFLOW_USERNAME": airflow_stack.auth[0], "AIRFLOW_PASSWORD": airflow_stack.auth[1]}
    fixed = cli(
        airflow_stack, *ARGS, "--run-id", "client-cli-paused", "--wait", "--unpause", **admin
    )
    assert fixed.returncode == ExitCode.OK, fixed.stderr
    assert f"rest-trigger: unpaused DAG {DAG_ID!r}" in fixed.stderr
    assert airflow_stack.get(f"/dags/{DAG_ID}").json()["is_paused"] is False


def test_cli_used_run_id_attaches_with_wait(airflow_stack) -> None:
    assert airflow_stack.trigger("client-cli-409", CONF).status_code == 200

    plain = cli(airflow_stack, *ARGS, "--run-id", "client-cli-409")
    assert plain.returncode == ExitCode.RUN_ID_CONFLICT
    assert error_line(plain) == (
        "rest-trigger: error: run id 'client-cli-409' is already used (HTTP 409); "
        "--wait attaches to that run"
    )

    attached = cli(airflow_stack, *ARGS, "--run-id", "client-cli-409", "--wait", "--json")
    assert attached.returncode == ExitCode.OK, attached.stderr
    assert "exists with the same conf: attaching to it" in attached.stderr
    report = json.loads(attached.stdout)
    assert report["attached"] is True
    assert report["state"] == "success"
    assert report["conf"] == CONF
    assert report["summary"] == airflow_stack.xcom("client-cli-409", MAIN_ETL)

    other = cli(airflow_stack, *ARGS, "--sid", "8", "--run-id", "client-cli-409", "--wait")
    assert other.returncode == ExitCode.RUN_ID_CONFLICT
    assert "already used by a run with another conf" in error_line(other)


def test_cli_failed_run_shows_the_reason_and_log_tail(airflow_stack) -> None:
    result = cli(airflow_stack, *BACKWARDS, "--run-id", "client-cli-failed", "--wait")
    assert result.returncode == ExitCode.RUN_FAILED
    assert result.stdout.startswith("run client-cli-failed failed after ")
    assert f"{PUSHER} failed (try 1): {BACKWARDS_REASON}" in result.stdout
    tail = result.stdout.split("--- the end of pusher's log (try 1) ---\n", 1)[1]
    assert f"airflow.exceptions.{BACKWARDS_REASON}" in tail  # the log, as the API serves it
    assert error_line(result) == (
        f"rest-trigger: error: run 'client-cli-failed' failed: {PUSHER}: {BACKWARDS_REASON}"
    )


def test_cli_timeout_leaves_the_run_going(airflow_stack) -> None:
    # --timeout 0: one look, and the run (just created, so not finished) is still going.
    result = cli(airflow_stack, *ARGS, "--run-id", "client-cli-timeout", "--timeout", "0")
    assert result.returncode == ExitCode.TIMED_OUT
    line = error_line(result)
    assert line.startswith("rest-trigger: error: run 'client-cli-timeout' is still ")
    assert "--run-id client-cli-timeout attaches to it again" in line
    assert airflow_stack.wait_for_run("client-cli-timeout")["state"] == "success"


# -- the Python API ----------------------------------------------------------------------------
def test_api_trigger_and_wait(airflow_stack) -> None:
    seen: list[RunStatus] = []
    result = trigger_and_wait(
        RunConf(**CONF),
        "client-api-ok",
        on_progress=seen.append,
        base_url=airflow_stack.base_url,
        username=airflow_stack.caller[0],
        password=airflow_stack.caller[1],
    )
    assert result.ok and not result.attached
    assert result.summary == airflow_stack.xcom("client-api-ok", MAIN_ETL)
    assert result.total == result.summary["total"]
    assert [(t.task_id, t.state) for t in result.tasks] == [
        (PUSHER, "success"),
        (MAIN_ETL, "success"),
    ]
    assert not seen[0].finished and seen[-1].finished

    # A retry with the same run id is safe: it attaches and reports the same result.
    again = trigger_and_wait(
        RunConf(**CONF),
        "client-api-ok",
        base_url=airflow_stack.base_url,
        username=airflow_stack.caller[0],
        password=airflow_stack.caller[1],
    )
    assert again.attached and again.summary == result.summary


def test_api_failed_run_raises_with_reason(airflow_stack) -> None:
    with pytest.raises(RunFailed) as failed:
        trigger_and_wait(
            RunConf(42, 7, "2024-02-01", "2024-01-31"),
            "client-api-failed",
            base_url=airflow_stack.base_url,
            username=airflow_stack.auth[0],
            password=airflow_stack.auth[1],
        )
    assert failed.value.exit_code == ExitCode.RUN_FAILED
    [failure] = failed.value.result.failures
    assert (failure.task_id, failure.try_number, failure.reason) == (
        PUSHER,
        1,
        BACKWARDS_REASON,
    )
    assert f"airflow.exceptions.{BACKWARDS_REASON}" in failure.log_tail


def test_api_errors_are_typed(airflow_stack, client) -> None:
    not_an_int: Any = "x"
    with pytest.raises(InvalidInput, match=r"Invalid input for param gid: 'x' is not of type"):
        client.trigger(RunConf(not_an_int, 7, "2024-01-01", "2024-01-31"), "client-api-400")
    wrong = RestTriggerClient(airflow_stack.base_url, airflow_stack.caller[0], "wrong")
    with wrong, pytest.raises(BadCredentials, match=r"HTTP 403"):
        wrong.trigger(RunConf(**CONF), "client-api-403")
    missing = RestTriggerClient(airflow_stack.base_url, *airflow_stack.caller, dag_id="absent")
    with missing, pytest.raises(DagNotFound, match=r"DAG 'absent' not found"):
        missing.trigger(RunConf(**CONF))
    first = client.trigger(RunConf(**CONF), "client-api-409")
    with pytest.raises(RunIdConflict, match=r"already used \(HTTP 409\)"):
        client.trigger(RunConf(**CONF), "client-api-409")
    assert client.trigger(RunConf(**CONF), "client-api-409", attach_existing=True).attached
    assert client.wait(first.run_id).ok


def test_api_wait_times_out_on_a_queued_run(airflow_stack, client, paused_dag) -> None:
    """A paused DAG keeps the run queued: waiting times out for certain, the run stays."""
    with pytest.raises(DagPaused):
        client.trigger(RunConf(**CONF), "client-api-timeout")
    assert airflow_stack.trigger("client-api-timeout", CONF).status_code == 200
    with pytest.raises(WaitTimedOut, match=r"is still queued after 2 s") as timed_out:
        client.wait("client-api-timeout", timeout=2, poll_interval=0.5)
    assert timed_out.value.exit_code == ExitCode.TIMED_OUT
    with RestTriggerClient(airflow_stack.base_url, *airflow_stack.auth) as admin:
        admin.unpause()
    assert client.wait("client-api-timeout", timeout=300).ok


@dataclass
class Sent:
    method: str
    path: str
    status: int | None = None  # None: no answer (the connection failed)


def record_requests(client: RestTriggerClient, monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Every HTTP request the client sends from now on, with its answer's status: urllib3's pool
    manager under the generated client, wrapped (each retry and each page is a request)."""
    manager = client.transport.api.rest_client.pool_manager
    send = manager.request
    sent: list[Sent] = []

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        record = Sent(method, urlsplit(url).path)
        sent.append(record)
        response = send(method, url, *args, **kwargs)
        record.status = response.status
        return response

    monkeypatch.setattr(manager, "request", request)
    return sent


def pages_since(stack, since: dt.datetime) -> int:
    """Pages (of PAGE_LIMIT) that the DAG's runs with a logical date from ``since`` fill: what
    one listing may take, counted with another client."""
    listing = stack.get(RUNS, params={"execution_date_gte": since.isoformat(), "limit": 1})
    return max(1, math.ceil(listing.json()["total_entries"] / PAGE_LIMIT))


BATCH_LIST = ("POST", "/api/v1/dags/~/dagRuns/list")


def test_api_wait_many_lists_the_runs_once_per_poll(airflow_stack, client, monkeypatch) -> None:
    """Five runs waited for together: each poll is one listing (a page per 100 runs in its
    window), never a GET per run."""
    before = dt.datetime.now(dt.UTC)
    run_ids = [f"client-wait-many-{i}" for i in range(5)]
    for run_id in run_ids:
        client.trigger(RunConf(**CONF), run_id)

    # An account that may read every DAG's runs (the admin) lists them with POST dagRuns/list.
    with RestTriggerClient(airflow_stack.base_url, *airflow_stack.auth) as admin:
        assert admin.transport.version.name == "v1"  # asked once per client, before the polls
        sent = record_requests(admin, monkeypatch)
        seen: list[WaitManyProgress] = []
        result = admin.wait_many(run_ids, timeout=300, poll_interval=0.5, on_progress=seen.append)
    assert result.states == dict.fromkeys(run_ids, "success")
    assert all(run.end_date is not None for run in result.runs.values())
    assert seen[0].pending > 0 and seen[-1].success == 5  # it did wait, and saw them end
    polls = len(seen)
    assert polls == result.polls
    # The widest window a poll can have used starts LOOKBACK before the wait (after `before`).
    pages = pages_since(airflow_stack, before - LOOKBACK)
    assert 0 < len(sent) <= polls * pages, (len(sent), polls, pages)
    assert {(r.method, r.path, r.status) for r in sent} == {(*BATCH_LIST, 200)}

    # The caller (RestTriggerCaller may read "DAG Runs", filtered to the DAGs it may read)
    # lists them the same way: one listing per poll, and no request per run.
    sent = record_requests(client, monkeypatch)
    seen = []
    assert client.wait_many(run_ids, timeout=60, on_progress=seen.append).ok
    assert {(r.method, r.path, r.status) for r in sent} == {(*BATCH_LIST, 200)}
    assert 0 < len(sent) <= len(seen) * pages, (len(sent), len(seen), pages)
