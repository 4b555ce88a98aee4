"""Request bodies over 64 KiB get a 413 problem (switch ``request_body_limit``). A trigger
needs a few hundred bytes.

Airflow 2.11 (Flask): ``blueprint`` sets the app's ``MAX_CONTENT_LENGTH`` as an int when the
plugin registers it, and answers werkzeug's 413 with the problem body. Airflow's own value is a
float (``allowed_payload_size`` MiB x 1024 x 1024), and with a float werkzeug asks gunicorn for
a fractional number of bytes once less than 64 KiB remain before the limit: gunicorn raises
TypeError and the caller gets 500 for bodies of 983,041 to 1,048,575 bytes.

Airflow 3 (FastAPI) sets no limit of its own (a 2 MB trigger body was accepted with 200 and
stored as the run's conf): ``BodySizeLimit``, a plain ASGI middleware (no Starlette import, so
the 2.11 test environment can drive it): a declared Content-Length over the limit is refused
before anything is read; a body without one (chunked) is read up to one byte past the limit,
then refused or handed on unchanged. Only ``/api/`` and ``/auth/`` paths are limited: the
execution API (``/execution/``), through which task processes send their XComs, keeps Airflow's
own behaviour.
"""

from __future__ import annotations

from typing import Any

from rest_trigger_api.asgi import App, Message, Receive, Scope, Send
from rest_trigger_api.problem import MEDIA_TYPE, problem_bytes

MAX_BODY_BYTES = 64 * 1024
LIMITED_PREFIXES = ("/api/", "/auth/")


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
        body = problem_bytes(413, too_large(self.max_bytes))
        headers = [
            (b"content-type", MEDIA_TYPE.encode()),
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


def too_large(max_bytes: int) -> str:
    return f"The request body is larger than {max_bytes} bytes, the limit here."


def flask_blueprint() -> Any:
    """2.11: the limit and its 413 problem, as a blueprint the plugin registers."""
    from flask import Blueprint
    from werkzeug.exceptions import RequestEntityTooLarge

    from rest_trigger_api.problem import flask_problem

    blueprint = Blueprint("rest_trigger_request_size_limit", __name__)

    @blueprint.record_once
    def _set_limit(state: Any) -> None:
        # Registered after Airflow set its float and read webserver_config.py: this int wins.
        state.app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @blueprint.app_errorhandler(RequestEntityTooLarge)
    def _too_large(_error: RequestEntityTooLarge) -> Any:
        return flask_problem(413, too_large(MAX_BODY_BYTES))

    return blueprint


ASGI_MIDDLEWARE = {
    "middleware": BodySizeLimit,
    "args": [],
    "kwargs": {"max_bytes": MAX_BODY_BYTES},
    "name": f"request body size limit ({MAX_BODY_BYTES // 1024} KiB)",
}
