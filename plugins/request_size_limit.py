"""Airflow 3: request bodies over 64 KiB get 413 on the public API and the token endpoint.

On 2.11 webserver_config.py's ``MAX_CONTENT_LENGTH`` does this; Airflow 3.3 serves its API from
FastAPI, which never reads that file and sets no limit of its own (a 2 MB trigger body was
accepted with 200 and stored as the run's conf). A trigger needs a few hundred bytes.

A plain ASGI middleware (no Starlette import, so the 2.11 test environment can drive it): a
declared Content-Length over the limit is refused before anything is read; a body without one
(chunked) is read up to one byte past the limit, then refused or handed on unchanged. Only
``/api/`` and ``/auth/`` paths are limited: the execution API (``/execution/``), through which
task processes send their XComs, keeps Airflow's own behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow import __version__ as _airflow_version
from airflow.plugins_manager import AirflowPlugin

MAX_BODY_BYTES = 64 * 1024  # the same limit as webserver_config.py's MAX_CONTENT_LENGTH
LIMITED_PREFIXES = ("/api/", "/auth/")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimit:
    def __init__(self, app: App, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "detail": f"The request body is larger than {self.max_bytes} bytes, the limit"
                " here.",
                "status": 413,
                "title": "Request Entity Too Large",
                "type": "about:blank",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # the unread rest of the body is not ours to drain
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# Airflow 3 only: 2.11's webserver is Flask (webserver_config.py limits it) and has no
# fastapi_root_middlewares.
if not _airflow_version.startswith("2."):

    class RequestSizeLimitPlugin(AirflowPlugin):
        name = "rest_trigger_request_size_limit"
        fastapi_root_middlewares = [
            {
                "middleware": BodySizeLimit,
                "args": [],
                "kwargs": {"max_bytes": MAX_BODY_BYTES},
                "name": "request body size limit (64 KiB)",
            }
        ]
