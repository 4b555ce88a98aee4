"""Airflow 3: the login throttle in front of token issuance (switch ``login_throttle``).

On 3.x a password is checked where a token is issued: ``POST /auth/token`` and ``/auth/token/cli``
(the FAB auth manager's FastAPI routes). Core Airflow has no throttle there (apache/airflow
#66804, open), and FAB's ``[fab] auth_rate_limited`` does not cover them: FAB 3.10.2 applies its
flask-limiter only to the Flask login view's blueprint
(``security_manager/override.py``: ``self.limiter.limit(self.auth_rate_limit,
methods=["POST"])(self.auth_view.blueprint)``, the form at /auth/login/), while the token
routes are FastAPI routes (``auth_manager/api_fastapi/routes/login.py``) that flask-limiter
never sees. That limiter also counts every POST from an address, successes included, in
per-process memory by default.

``TokenGuard`` is a plain ASGI middleware (no Starlette import, like request_size_limit.py): it
reads the JSON body (replayed to the app unchanged), takes ``username`` and ``password`` from
it, and asks login_policy.py's policy, the one 2.11's basic auth uses, before the app checks the
password: a refused login gets 429, ``Retry-After`` and a problem body. The app's answer
decides the rest, before it is passed on: 401 counts a failure for the username and the client
address, a 2xx remembers the pair as known. The address is ``scope["client"]``: uvicorn's, after its
``--forwarded-allow-ips`` handling, so behind a proxy it is the proxy unless that is trusted.
Database calls run in a thread: the event loop serves other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from rest_trigger_api.asgi import App, Message, Receive, Scope, Send
from rest_trigger_api.login_policy import LoginPolicy
from rest_trigger_api.problem import MEDIA_TYPE, problem_bytes

GUARDED_PATHS = ("/auth/token", "/auth/token/cli")


def credentials(body: bytes) -> tuple[str, str]:
    """(username, password) as the token route reads them; "" for what is missing or not JSON
    (the route then answers 400 or 422 without checking any password)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(parsed, dict):
        return "", ""
    return tuple(  # type: ignore[return-value]
        value if isinstance(value, str) else "" if value is None else json.dumps(value)
        for value in (parsed.get("username"), parsed.get("password"))
    )


class TokenGuard:
    def __init__(self, app: App, policy: Callable[[], LoginPolicy] = LoginPolicy.from_config):
        self.app = app
        self._make_policy = policy
        self._policy: LoginPolicy | None = None

    async def _get_policy(self) -> LoginPolicy:
        # Built on the first guarded request, when Airflow's ORM is set up in this worker.
        if self._policy is None:
            self._policy = await asyncio.to_thread(self._make_policy)
        return self._policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope["path"].rstrip("/") not in GUARDED_PATHS
        ):
            await self.app(scope, receive, send)
            return
        # The whole body, as the route would read it: a login that skipped the guard by being
        # large would be checked all the same (request_size_limit.py, outside, caps it).
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        username, password = credentials(body)
        address = (scope.get("client") or ("",))[0] or ""
        policy = await self._get_policy()
        wait = await asyncio.to_thread(policy.refusal, username, password, address)
        if wait is not None:
            await self._refuse(send, wait)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        async def watch(message: Message) -> None:
            # Counted before the caller sees the answer: a client that sends its next guess
            # the moment this one is refused must find the failure already there (seen: six
            # 401s before the 429 when it was written after the response).
            if message["type"] == "http.response.start":
                if message["status"] == 401:
                    await asyncio.to_thread(policy.failed, username, address)
                elif 200 <= message["status"] < 300:
                    await asyncio.to_thread(policy.succeeded, username, password)
            await send(message)

        await self.app(scope, replay, watch)

    @staticmethod
    async def _refuse(send: Send, wait: int) -> None:
        body = problem_bytes(429, f"too many failed logins; retry after {wait} s")
        headers = [
            (b"content-type", MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(wait).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


ASGI_MIDDLEWARE = {
    "middleware": TokenGuard,
    "args": [],
    "kwargs": {},
    "name": "login throttle on POST /auth/token",
}
