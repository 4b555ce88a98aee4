"""The client's transport, raw requests (what the bench and the test harness use), against a
small HTTP server in this process: the request as sent, any answer returned as it is, and
retries only where repeating a request cannot change anything."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rest_trigger_client.errors import ApiError, Unreachable
from rest_trigger_client.transport import Transport
from rest_trigger_local.ports import free_port


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with ``server.status`` and a JSON echo of it; a path that
    contains ``/drop`` gets no answer (the connection is closed)."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        seen = {
            "method": self.command,
            "path": self.path,
            "auth": self.headers.get("Authorization"),
            "content_type": self.headers.get("Content-Type"),
            "accept": self.headers.get("Accept"),
            "body": body,
        }
        self.server.seen.append(seen)  # type: ignore[attr-defined]
        if "/drop" in self.path:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        answer = json.dumps(seen).encode()
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PATCH = _handle

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def transport_for(server: ThreadingHTTPServer, **options: Any) -> Transport:
    return Transport(f"http://127.0.0.1:{server.server_port}", "caller", "secret", **options)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_get_sends_the_login_and_the_query_and_returns_the_answer(server) -> None:
    with transport_for(server) as transport:
        answer = transport.get("/dags/x/dagRuns", params={"limit": 100, "order_by": "-id"})
        as_admin = transport.get("/dags", auth=("admin", "admin "))
    assert answer.status_code == 200 and answer.ok
    assert answer.headers["content-type"] == "application/json"  # any case
    assert answer.json()["path"] == "/api/v1/dags/x/dagRuns?limit=100&order_by=-id"
    assert answer.url == f"{transport.api_url}/dags/x/dagRuns?limit=100&order_by=-id"
    assert [s["auth"] for s in server.seen] == [basic("caller", "secret"), basic("admin", "admin ")]
    assert as_admin.json()["auth"] == basic("admin", "admin ")
    assert server.seen[0]["accept"] == "*/*"


def test_post_sends_json_and_an_error_answer_is_returned_not_raised(server) -> None:
    server.status = 409
    with transport_for(server) as transport:
        answer = transport.post("/dags/x/dagRuns", {"dag_run_id": "r", "conf": {"gid": 1}})
    assert answer.status_code == 409 and not answer.ok
    sent = server.seen[0]
    assert (sent["method"], sent["content_type"]) == ("POST", "application/json")
    assert json.loads(sent["body"]) == {"dag_run_id": "r", "conf": {"gid": 1}}
    with pytest.raises(ApiError, match="HTTP 409") as raised:
        answer.raise_for_status()
    assert raised.value.status == 409


def test_a_get_without_answer_is_retried_a_post_never(server) -> None:
    with transport_for(server, connect_retries=2, backoff_seconds=0) as transport:
        with pytest.raises(Unreachable, match=r"unreachable \(GET /drop\)"):
            transport.get("/drop")
        assert len(server.seen) == 3  # the first try and two retries
        server.seen.clear()
        with pytest.raises(Unreachable, match=r"unreachable \(POST /drop\)"):
            transport.post("/drop", {})
        assert len(server.seen) == 1  # it may have arrived: never sent twice


def test_no_server_is_unreachable() -> None:
    transport = Transport(f"http://127.0.0.1:{free_port()}", connect_retries=0)
    with pytest.raises(Unreachable, match=r"^Airflow at http://127\.0\.0\.1:\d+ is unreachable"):
        transport.get("/health")
