"""Waiting through Airflow 3.1+'s wait stream, against a small fake Airflow 3 in this process
(http.server): what a real stack cannot be made to do on cue. A stream dropped mid-run (reset,
or ended early as when the api-server restarts) is opened again and read to the end; the
resumes stop at the caller's timeout; a missing endpoint (Airflow 3.0) falls back to polling,
found once per client; /api/v1 polls without asking; wait_many picks streams or the listing
by its rule. The happy path against the real Airflow 3.3.2 is in test_airflow3_client.py."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rest_trigger_client import (
    ApiError,
    RestTriggerClient,
    RestTriggerError,
    Unreachable,
    WaitTimedOut,
)
from rest_trigger_client.wait_stream import StreamStats, follow

RUN = "r1"
SUMMARY = {"dag_run_id": RUN, "gid": 42, "sid": 7, "total": 4}
RUNNING = b'{"state": "running"}\n'
SUCCESS = json.dumps({"state": "success", "results": {"main_etl": SUMMARY}}).encode() + b"\n"
TASKS = {
    "task_instances": [
        {"task_id": "pusher", "state": "success", "try_number": 1},
        {"task_id": "main_etl", "state": "success", "try_number": 1},
    ]
}


class FakeAirflow3(BaseHTTPRequestHandler):
    """/api/v2 (and /api/v1) as far as waiting needs it. ``server.streams`` holds what each
    wait request gets, in turn: a list of lines then how it ends ("end": the stream ends
    cleanly; "drop": the connection is reset mid-chunk), an HTTP status (a missing route), or
    "missing-run" (Airflow's 404 for the run); the last entry repeats."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        server: Any = self.server
        path = self.path.split("?")[0]
        with server.lock:
            server.seen.append((self.command, self.path, self.headers.get("Accept")))
        if path.endswith("/version"):
            return self._json(200, {"version": "3.3.2"})
        if path == "/auth/token":
            return self._json(201, {"access_token": "token"})
        if path.endswith("/wait"):
            return self._stream(server)
        if path.endswith("/taskInstances"):
            return self._json(200, TASKS)
        if "/xcomEntries/" in path:
            return self._json(200, {"value": SUMMARY})
        if path.endswith("/dagRuns/list"):
            runs = [{"dag_run_id": r, "state": "success"} for r in server.run_ids]
            return self._json(200, {"dag_runs": runs, "total_entries": len(runs)})
        if match := re.search(r"/dagRuns/([^/]+)$", path):
            return self._json(200, {"dag_run_id": match[1], "state": "success", "conf": {}})
        return self._json(404, {"error": "API route not found"})

    def _stream(self, server: Any) -> None:
        with server.lock:
            plan = server.streams[min(server.opened, len(server.streams) - 1)]
            server.opened += 1
        if plan == "missing-run":  # Airflow's 404 for a run that does not exist names it
            run_id = self.path.split("/dagRuns/")[1].split("/")[0]
            detail = f"The DagRun with dag_id: `d` and run_id: `{run_id}` was not found"
            return self._json(404, {"detail": detail})
        if isinstance(plan, int):  # a route this Airflow lacks
            return self._json(plan, {"error": "API route not found"})
        *lines, ending = plan
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            time.sleep(0.05)
        if ending == "drop":
            self.wfile.write(b'40\r\n{"state": "runn')  # a chunk cut short, then a reset
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[Any]:
    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow3)
    httpd.daemon_threads = True
    httpd.seen, httpd.lock, httpd.opened = [], threading.Lock(), 0
    httpd.streams = [[RUNNING, SUCCESS, "end"]]
    httpd.run_ids = [RUN]
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def client(fake: Any, api: str = "auto") -> RestTriggerClient:
    return RestTriggerClient(fake.url, "u", "p", api=api, connect_retries=1, backoff_seconds=0.1)


def waits(fake: Any) -> list[str]:
    return [path for _, path, _ in fake.seen if path.split("?")[0].endswith("/wait")]


@pytest.mark.parametrize("ending", ["drop", "end"])
def test_a_dropped_stream_is_opened_again_and_read_to_the_end(fake, ending: str) -> None:
    fake.streams = [[RUNNING, ending], [RUNNING, SUCCESS, "end"]]
    seen: list[str] = []
    with client(fake) as api:
        result = api.wait(RUN, timeout=30, on_progress=lambda s: seen.append(s.state))
        # The client counts attempts: one on a pooled connection the fake server had already
        # closed is retried (seen once on a loaded CI machine), so the server's count is the
        # exact one below.
        assert api.transport.count.matching("/wait") >= 2, api.transport.count
    assert result.state == "success" and result.summary == SUMMARY, fake.seen
    assert len(waits(fake)) == 2, fake.seen
    assert all(accept == "application/x-ndjson" for _, p, accept in fake.seen if "/wait" in p)
    assert "interval=1.0" in waits(fake)[0] and "result=main_etl" in waits(fake)[0]
    assert seen == ["running", "success"], seen
    assert not any("/xcomEntries/" in p for _, p, _ in fake.seen), "the summary came along"


def test_resuming_stops_at_the_callers_timeout(fake) -> None:
    fake.streams = [[RUNNING, "drop"]]  # every stream drops after a line, the run never ends
    started = time.monotonic()
    with client(fake) as api, pytest.raises(WaitTimedOut, match=r"still running after 1\.5 s"):
        api.wait(RUN, timeout=1.5)
    took = time.monotonic() - started
    # A hang guard, not a speed goal: resuming must not outlive the caller's deadline for good.
    assert took < 30, f"{took:.1f} s for a 1.5-s timeout; {len(waits(fake))} streams"
    assert len(waits(fake)) >= 2, fake.seen  # it did resume before the deadline


def test_streams_that_drop_before_any_line_are_unreachable(fake) -> None:
    fake.streams = [["drop"]]
    stats = StreamStats()
    with client(fake, "v2") as api, pytest.raises(Unreachable, match="keeps dropping"):
        follow(api.transport, "d", RUN, interval=0.1, stats=stats, backoff_seconds=0.01)
    assert stats.opened == 2 and stats.lines == 0, stats  # connect_retries=1: two tries


@pytest.mark.parametrize("status", [404, 405])
def test_a_missing_endpoint_falls_back_to_polling_once_per_client(fake, status: int) -> None:
    fake.streams = [status]
    with client(fake) as api:
        first = api.wait(RUN, timeout=30, poll_interval=0.1)
        second = api.wait(RUN, timeout=30, poll_interval=0.1)
        assert not api.uses_wait_endpoint
    assert first.summary == second.summary == SUMMARY
    assert len(waits(fake)) == 1, fake.seen  # asked once, remembered
    assert sum("/xcomEntries/" in p for _, p, _ in fake.seen) == 2  # polling reads the XCom


def test_a_missing_run_is_an_error_not_a_missing_endpoint(fake) -> None:
    fake.streams = ["missing-run"]
    with client(fake) as api, pytest.raises(RestTriggerError, match="HTTP 404") as error:
        api.wait("no-such-run", timeout=5)
    assert api._wait_endpoint is None, error.value  # not taken for Airflow 3.0
    assert len(waits(fake)) == 1 and not any("/xcomEntries/" in p for _, p, _ in fake.seen)


def test_v1_polls_without_asking_for_the_wait_endpoint(fake) -> None:
    with client(fake, "v1") as api:
        result = api.wait(RUN, timeout=30, poll_interval=0.1)
        assert not api.uses_wait_endpoint
    assert result.summary == SUMMARY
    assert waits(fake) == [], fake.seen


def test_wait_many_streams_few_runs_and_lists_many(fake) -> None:
    fake.run_ids = ["a", "b", "c"]
    with client(fake) as api:
        streamed = api.wait_many(fake.run_ids, timeout=30, max_streams=3)
        assert len(waits(fake)) == 3 and api.transport.count.matching("/list") == 1
        api.transport.count.reset()
        listed = api.wait_many(fake.run_ids, timeout=30, max_streams=2)
        assert api.transport.count.matching("/wait") == 0, api.transport.count
        assert api.transport.count.matching("/list") == 1, api.transport.count
    assert streamed.states == listed.states == dict.fromkeys(fake.run_ids, "success")


def test_a_stream_left_at_the_timeout_does_not_spoil_the_next_request(fake) -> None:
    fake.streams = [[*[RUNNING] * 100, "end"]]  # 5 s of lines: still going at the timeout
    with client(fake) as api:
        with pytest.raises(WaitTimedOut):
            api.wait(RUN, timeout=1)
        # Its connection was closed, not pooled with the rest of the stream unread.
        assert api.status(RUN).state == "success"
        assert api.summary(RUN) == SUMMARY


def test_an_interval_of_zero_is_sent_as_the_floor_airflow_accepts(fake) -> None:
    with client(fake) as api:
        assert api.wait(RUN, timeout=30, poll_interval=0).summary == SUMMARY
    assert "interval=0.1" in waits(fake)[0], fake.seen  # Airflow: 422 for interval <= 0


def test_a_line_that_is_not_the_documented_json_is_an_api_error(fake) -> None:
    fake.streams = [[b"<html>proxy error</html>\n", "end"]]
    with client(fake) as api, pytest.raises(ApiError, match=r"unexpected line .*proxy error"):
        api.wait(RUN, timeout=30)
