"""The trigger client against a real Airflow 3.3 (/api/v2, JWT): it finds the version itself,
fetches and renews its token, and keeps the contract it has on Airflow 2: trigger and wait with
main_etl's summary, wait_many, attach on 409, the failing task's reason, and the same errors and
exit codes for bad input (400 and FastAPI's 422) and a wrong password. Waiting reads Airflow
3.1+'s wait stream: a few requests a run (counted by the client, and in the api-server's
access log), with progress and the warehouse total."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from rest_trigger_client import (
    BadCredentials,
    ExitCode,
    InvalidInput,
    RestTriggerClient,
    RunConf,
    RunFailed,
    RunIdConflict,
    raise_for_failure,
    trigger_and_wait,
)
from rest_trigger_client.api_version import V2
from rest_trigger_client.errors import HttpError
from rest_trigger_etl.names import DAG_ID, DEMO_CONF
from tests.support.airflow_stack import AIRFLOW3_TOKEN_LEEWAY, AIRFLOW3_TOKEN_LIFETIME
from tests.support.cli import ARGS, client_env
from tests.support.cli import rest_trigger as run_cli
from tests.support.warehouse_reads import independent_count

pytestmark = pytest.mark.airflow3


def rest_trigger(stack, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    """The command as the caller, against the Airflow 3 stack."""
    user, secret = stack.caller
    env = client_env(
        AIRFLOW_URL=stack.base_url, AIRFLOW_USERNAME=user, AIRFLOW_PASSWORD=password or secret
    )
    return run_cli(*args, env=env, timeout=600)


def error_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


def record_statuses(client: RestTriggerClient, monkeypatch) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request the client sends from now on."""
    manager = client.transport.api.rest_client.pool_manager
    send = manager.request
    seen: list[tuple[str, str, int]] = []

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        answer = send(method, url, *args, **kwargs)
        seen.append((method, urlsplit(url).path, answer.status))
        return answer

    monkeypatch.setattr(manager, "request", request)
    return seen


@pytest.fixture
def client(airflow3_stack):
    with RestTriggerClient(airflow3_stack.base_url, *airflow3_stack.caller) as api:
        yield api


def test_the_version_is_asked_once_and_is_v2(airflow3_stack, monkeypatch) -> None:
    with RestTriggerClient(airflow3_stack.base_url, *airflow3_stack.caller) as client:
        seen = record_statuses(client, monkeypatch)
        assert not client.dag_paused()
        client.dag_paused()
    assert client.transport.version is V2
    assert seen[:3] == [
        ("GET", "/api/v2/version", 200),
        ("POST", "/auth/token", 201),
        ("GET", f"/api/v2/dags/{DAG_ID}", 200),
    ]
    assert seen[3:] == [("GET", f"/api/v2/dags/{DAG_ID}", 200)]  # no second version request


def test_the_token_is_renewed_before_it_expires_and_when_refused(
    airflow3_stack, client, monkeypatch
) -> None:
    seen = record_statuses(client, monkeypatch)
    client.dag_paused()
    auth = client.transport.auth
    lifetime = auth.expires_at - time.time()
    assert 0 < lifetime <= AIRFLOW3_TOKEN_LIFETIME
    assert auth.fetched == 1

    # Renewed before it expires: no request is refused.
    time.sleep(max(0.0, auth._renew_at - time.time()) + 0.5)
    client.dag_paused()
    assert auth.fetched == 2
    assert all(status < 400 for _, _, status in seen), seen

    # A token Airflow refuses (here: expired, past Airflow's leeway, while the client thought
    # it valid) is renewed once and the request sent again.
    auth._renew_at = float("inf")
    expired = auth.expires_at + AIRFLOW3_TOKEN_LEEWAY + 1.5
    time.sleep(max(0.0, expired - time.time()))
    seen.clear()
    assert not client.dag_paused()
    assert auth.fetched == 3
    refused = [s for s in seen if s[1] == f"/api/v2/dags/{DAG_ID}" and s[2] >= 400]
    assert [s[2] for s in refused] == [401], seen  # "Token Expired"
    assert seen[-2:] == [("POST", "/auth/token", 201), ("GET", f"/api/v2/dags/{DAG_ID}", 200)]


def test_trigger_wait_many_and_the_summary(airflow3_stack, client) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%H%M%S")
    run_ids = [f"af3-ok-{stamp}-{i}" for i in range(2)]
    posted = time.monotonic()
    for run_id in run_ids:
        assert not client.trigger(RunConf(**DEMO_CONF), run_id).attached
    many = client.wait_many(run_ids, timeout=480, poll_interval=2)
    assert many.states == dict.fromkeys(run_ids, "success")
    result = client.wait(run_ids[0], timeout=60)
    took = time.monotonic() - posted
    assert result.ok and result.state == "success"
    assert result.summary is not None
    assert result.summary["dag_run_id"] == run_ids[0]
    assert isinstance(result.total, int) and result.total > 0
    assert [t.task_id for t in result.tasks] == ["pusher", "main_etl"]
    print(f"\nAirflow 3: 2 runs POST -> success in {took:.1f} s; total {result.total}")


def test_a_used_run_id_is_attached_to_or_refused(airflow3_stack, client) -> None:
    run_id = f"af3-attach-{dt.datetime.now(dt.UTC):%H%M%S}"
    result = trigger_and_wait(
        RunConf(**DEMO_CONF),
        run_id,
        timeout=480,
        base_url=airflow3_stack.base_url,
        username=airflow3_stack.caller[0],
        password=airflow3_stack.caller[1],
    )
    assert result.ok and result.total is not None
    with pytest.raises(RunIdConflict, match=r"already used \(HTTP 409\); --wait attaches") as e:
        client.trigger(RunConf(**DEMO_CONF), run_id)
    assert e.value.exit_code == ExitCode.RUN_ID_CONFLICT
    again = client.trigger(RunConf(**DEMO_CONF), run_id, attach_existing=True)
    assert again.attached
    assert client.wait(run_id, attached=True).summary == result.summary
    other = dict(DEMO_CONF, sid=8)
    with pytest.raises(RunIdConflict, match="used by a run with another conf"):
        client.trigger(RunConf(**other), run_id, attach_existing=True)


def test_bad_conf_is_invalid_input_as_on_airflow_2(airflow3_stack, client) -> None:
    # A param's value: Airflow 3 answers 400, as Airflow 2 does.
    bad_date = rest_trigger(airflow3_stack, *ARGS[:6], "--end", "2024-13-45")
    assert bad_date.returncode == ExitCode.INVALID_INPUT == 2
    assert error_line(bad_date).startswith("rest-trigger: error: Airflow refused run ")
    assert "(HTTP 400): Invalid input for param date_end" in error_line(bad_date)
    with pytest.raises(InvalidInput, match=r"HTTP 400.*param gid"):
        client.trigger(RunConf("x; drop table", 7, "2024-01-01", "2024-03-31"))  # type: ignore[arg-type]

    # The body's shape (FastAPI's 422): here without the logical_date /api/v2 requires.
    with pytest.raises(HttpError) as refused:
        client.transport.send(
            "POST dagRuns", "POST", f"/dags/{DAG_ID}/dagRuns", json={"conf": DEMO_CONF}
        )
    assert refused.value.status == 422
    error = client.transport.error(refused.value, "run 'x'")
    assert isinstance(error, InvalidInput) and error.exit_code == ExitCode.INVALID_INPUT
    assert str(error) == "Airflow refused run 'x' (HTTP 422): body.logical_date: Field required"


def test_a_wrong_password_is_bad_credentials_as_on_airflow_2(airflow3_stack) -> None:
    result = rest_trigger(airflow3_stack, *ARGS, "--wait", password="not-the-password")
    assert result.returncode == ExitCode.BAD_CREDENTIALS == 3
    assert error_line(result) == (
        "rest-trigger: error: Airflow refused the credentials of user 'caller' (HTTP 401): "
        "check AIRFLOW_USERNAME / AIRFLOW_PASSWORD, and that the user may trigger DAG runs"
    )
    user = airflow3_stack.caller[0]
    client = RestTriggerClient(airflow3_stack.base_url, user, "wrong")
    with client, pytest.raises(BadCredentials):
        client.trigger(RunConf(**DEMO_CONF))


def test_a_failed_run_names_the_task_and_its_reason(airflow3_stack, client) -> None:
    backwards = RunConf(42, 7, "2024-02-01", "2024-01-31")  # valid dates; pusher refuses them
    run = client.trigger(backwards)
    result = client.wait(run.run_id, timeout=480)
    assert result.state == "failed"
    [failure] = result.failures
    assert failure.task_id == "pusher"
    assert failure.reason == (
        "AirflowFailException: invalid conf: date_start 2024-02-01 is after date_end 2024-01-31"
    )
    assert "AirflowFailException" in failure.log_tail
    with pytest.raises(RunFailed):
        raise_for_failure(result)


def test_cli_end_to_end(airflow3_stack) -> None:
    run_id = f"af3-cli-{dt.datetime.now(dt.UTC):%H%M%S}"
    result = rest_trigger(airflow3_stack, *ARGS, "--run-id", run_id, "--wait", "--json")
    assert result.returncode == ExitCode.OK, result.stderr
    printed = json.loads(result.stdout)
    assert printed["dag_run_id"] == run_id and printed["state"] == "success"
    assert printed["tasks"] == {"pusher": "success", "main_etl": "success"}
    assert printed["summary"]["total"] > 0 and printed["summary"]["dag_run_id"] == run_id
    # Forcing the version works too; v1 is not there on Airflow 3 (its 404, as a missing DAG).
    forced = rest_trigger(airflow3_stack, *ARGS, "--run-id", run_id, "--api", "v2")
    assert forced.returncode == ExitCode.RUN_ID_CONFLICT
    assert rest_trigger(airflow3_stack, *ARGS, "--api", "v1").returncode != ExitCode.OK


def access_log(stack, fragment: str, timeout: float = 10) -> list[str]:
    """The api-server's access lines (``[http.access] ... method=GET path=...``) for paths
    holding ``fragment``; waited for a moment, as the log is written after the answer."""
    log = stack.state_dir / "logs" / "api-server.log"
    deadline = time.monotonic() + timeout
    while True:
        lines = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if "[http.access]" in line and fragment in line
        ]
        if any("/wait " in line for line in lines) or time.monotonic() > deadline:
            return lines


def test_cli_wait_reads_the_wait_stream_with_progress_and_the_warehouse_total(
    airflow3_stack,
) -> None:
    run_id = f"af3-stream-{dt.datetime.now(dt.UTC):%H%M%S}"
    result = rest_trigger(airflow3_stack, *ARGS, "--run-id", run_id, "--wait", "--json")
    assert result.returncode == ExitCode.OK, result.stderr
    printed = json.loads(result.stdout)
    expected = independent_count(airflow3_stack, DEMO_CONF["gid"], DEMO_CONF["sid"],
                                 DEMO_CONF["date_start"], DEMO_CONF["date_end"])  # fmt: skip
    assert printed["state"] == "success" and printed["summary"]["total"] == expected > 0
    progress = [line for line in result.stderr.splitlines() if "] run " in line]
    # Progress as the stream reports it: the state it found first (queued, or running), then
    # the end with each task's state. Which states lie between depends on how fast the run is
    # against the stream's 1 s interval (on a quiet machine it went queued -> success).
    assert len(progress) >= 2, result.stderr
    assert "run queued" in progress[0] or "run running" in progress[0], result.stderr
    assert "run success | pusher success" in progress[-1], result.stderr
    assert "main_etl success" in progress[-1], result.stderr

    # What the server saw for this run: one wait stream, the run once (its conf, at the end),
    # its tasks at each change of the run's state; no XCom request (the stream brings it), and
    # no per-second GETs of the run as polling makes (2 a second while it runs).
    seen = access_log(airflow3_stack, f"/dagRuns/{run_id}")
    paths = [re.search(r"method=(\S+) path=(\S+)", line).groups() for line in seen]  # type: ignore[union-attr]
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    waits = [p for p in paths if p == ("GET", f"{base}/wait")]
    assert len(waits) == 1, "\n".join(seen)
    assert paths.count(("GET", base)) == 1, "\n".join(seen)
    assert paths.count(("GET", f"{base}/taskInstances")) <= 3, "\n".join(seen)
    assert not [p for p in paths if "xcomEntries" in p[1]], "\n".join(seen)
    print(f"\naccess log for {run_id}: {len(paths)} requests: {paths}")


def test_wait_counts_a_few_requests_whatever_the_run_takes(airflow3_stack, client) -> None:
    run = client.trigger(RunConf(**DEMO_CONF), f"af3-count-{dt.datetime.now(dt.UTC):%H%M%S}")
    client.transport.count.reset()
    started = time.monotonic()
    result = client.wait(run.run_id, timeout=480, poll_interval=0.5, on_progress=lambda s: None)
    took = time.monotonic() - started
    count = client.transport.count
    assert result.ok and result.summary is not None and result.total == result.summary["total"]
    assert client.uses_wait_endpoint and client._wait_endpoint is True
    assert count.matching("/wait") == 1, count
    assert count.matching("/xcomEntries") == 0, count
    # The stream, the run once, its tasks at queued->running and at the end: polling every
    # 0.5 s would have sent 2 requests per poll for the whole run instead.
    api_requests = count.matching("/api/v2/")  # a token renewal (20-s tokens here) aside
    assert api_requests <= 4, count
    polls = took / 0.5
    print(f"\nwait stream: {api_requests} requests over {took:.1f} s (polling: ~{2 * polls:.0f})")


def test_wait_many_streams_few_runs_and_lists_many(airflow3_stack, client) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%H%M%S")
    run_ids = [f"af3-many-{stamp}-{i}" for i in range(3)]
    for run_id in run_ids:
        client.trigger(RunConf(**DEMO_CONF), run_id)
    client.transport.count.reset()
    streamed = client.wait_many(run_ids, timeout=480, max_streams=3)
    streams = dict(client.transport.count.by_path)
    assert client.transport.count.matching("/wait") == 3, streams
    assert client.transport.count.total == 4, streams  # 3 streams + 1 listing for the dates
    assert streamed.states == dict.fromkeys(run_ids, "success")
    assert all(run.end_date is not None for run in streamed.runs.values()), streamed
    client.transport.count.reset()
    listed = client.wait_many(run_ids, timeout=480, max_streams=2)  # ended: one listing
    assert client.transport.count.matching("/wait") == 0 and listed.states == streamed.states
