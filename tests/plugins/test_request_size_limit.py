"""plugins/rest_trigger_api/request_size_limit.py, the body limit. Airflow 3's, driven as an ASGI
app without a server: over 64 KiB refused with a 413 problem before the app sees anything,
declared or chunked; up to the limit handed on byte for byte; the execution API and other paths
untouched. The same limit as the Flask blueprint's on 2.11. (tests/e2e/test_airflow3_stack.py
sends a 2 MB body to the real api-server.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rest_trigger_api.request_size_limit import MAX_BODY_BYTES, BodySizeLimit


class Recorder:
    """The app behind the middleware: records the body it read."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(path: str, chunks: list[bytes], declared: int | None) -> tuple[Recorder, list[dict]]:
    app = Recorder()
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return pending.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(BodySizeLimit(app)(scope, receive, send))
    return app, sent


RUNS = "/api/v2/dags/rest-trigger/dagRuns"


@pytest.mark.parametrize("declared", [MAX_BODY_BYTES + 1, None], ids=["declared", "chunked"])
def test_a_body_over_the_limit_is_refused_before_the_app_runs(declared) -> None:
    chunks = [b"x" * 40_000, b"x" * 40_000, b"x" * 40_000]
    app, sent = call(RUNS, chunks, declared)
    assert not app.called
    assert sent[0]["status"] == 413
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]
    problem = json.loads(sent[1]["body"])
    assert problem["status"] == 413 and problem["title"] == "Request Entity Too Large"
    assert str(MAX_BODY_BYTES) in problem["detail"]


@pytest.mark.parametrize("path", [RUNS, "/auth/token"])
def test_up_to_the_limit_the_app_reads_the_body_unchanged(path) -> None:
    body = bytes(range(256)) * (MAX_BODY_BYTES // 256)
    assert len(body) == MAX_BODY_BYTES
    app, sent = call(path, [body[:1000], body[1000:]], None)
    assert app.called and app.body == body
    assert sent[0]["status"] == 200


def test_the_execution_api_is_not_limited() -> None:
    """Task processes send XComs there; a large one is Airflow's business, not the caller's."""
    body = b"x" * (MAX_BODY_BYTES * 2)
    app, sent = call("/execution/xcoms/some", [body], len(body))
    assert app.called and app.body == body
    assert sent[0]["status"] == 200


def test_on_airflow_2_the_blueprint_sets_the_same_limit_as_an_int() -> None:
    """2.11's webserver is Flask: registering the blueprint sets MAX_CONTENT_LENGTH (an int, not
    Airflow's float) and answers a larger body with the same 413 problem."""
    from flask import Flask, request
    from rest_trigger_api.request_size_limit import flask_blueprint

    app = Flask("probe")
    app.config["MAX_CONTENT_LENGTH"] = 5.0 * 1024 * 1024  # what Airflow 2.11 sets first
    app.add_url_rule("/api/v1/echo", "echo", lambda: request.get_data()[:2], methods=["POST"])
    app.register_blueprint(flask_blueprint())
    assert app.config["MAX_CONTENT_LENGTH"] == MAX_BODY_BYTES
    assert isinstance(app.config["MAX_CONTENT_LENGTH"], int)
    client = app.test_client()
    assert client.post("/api/v1/echo", data=b"x" * MAX_BODY_BYTES).status_code == 200
    refused = client.post("/api/v1/echo", data=b"x" * (MAX_BODY_BYTES + 1))
    assert refused.status_code == 413
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["detail"] == (
        f"The request body is larger than {MAX_BODY_BYTES} bytes, the limit here."
    )
