"""Airflow 3's guard on POST /auth/token (token_guard.py), driven as an ASGI app without a server,
with a stand-in for FAB's token route: 401 for a wrong password counts; after five, 429 with
Retry-After and a problem body, without the route being called; the right password of a known
login still reaches it; the body reaches it byte for byte; other paths are not looked at.
(tests/e2e/test_airflow3_stack.py does the same against the real api-server.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rest_trigger_api.login_policy import LoginPolicy
from rest_trigger_api.login_throttle import LoginThrottle
from rest_trigger_api.token_guard import TokenGuard, credentials
from rest_trigger_api.verified_logins import KnownLogins, shared_key

from tests.support.clock import ManualClock

PASSWORDS = {"caller": "right"}


class TokenRoute:
    """FAB's route, as far as the guard can tell: 201 for the right password, else 401."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        if scope["path"].startswith("/auth/"):
            login = json.loads(body)
            ok = PASSWORDS.get(login.get("username")) == login.get("password")
        else:
            ok = False  # a protected API path without a token
        await send({"type": "http.response.start", "status": 201 if ok else 401, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def post(
    guard: TokenGuard,
    path: str,
    body: bytes,
    client: str = "10.0.0.66",
    on_start: Any = None,
) -> dict[str, Any]:
    chunks = [body[:7], body[7:]]  # in two messages, as a client may send it
    pending = [
        {"type": "http.request", "body": c, "more_body": i == 0} for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        if on_start is not None and message["type"] == "http.response.start":
            on_start()
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [],
             "client": (client, 50000)}  # fmt: skip
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    return {
        "status": start["status"],
        "headers": {k.decode(): v.decode() for k, v in start["headers"]},
        "body": b"".join(m.get("body", b"") for m in sent[1:]),
    }


def login(username: str, password: str) -> bytes:
    return json.dumps({"username": username, "password": password}).encode()


def guarded(engines) -> tuple[TokenGuard, TokenRoute, LoginPolicy]:
    clock = ManualClock()
    engine = engines()
    policy = LoginPolicy(
        LoginThrottle(engine, window=300, per_user=5, per_address=20, clock=clock),
        KnownLogins(engine, shared_key("secret"), clock=clock),
    )
    route = TokenRoute()
    return TokenGuard(route, policy=lambda: policy), route, policy


def test_five_wrong_passwords_then_429_with_retry_after_and_the_known_caller_still_gets_in(
    engines,
) -> None:
    guard, route, _ = guarded(engines)
    assert post(guard, "/auth/token", login("caller", "right"), "10.0.0.1")["status"] == 201
    answers = [post(guard, "/auth/token", login("caller", f"guess-{n}")) for n in range(8)]
    assert [a["status"] for a in answers] == [401] * 5 + [429] * 3, answers
    refused = answers[-1]
    assert refused["headers"]["retry-after"] == "300"
    assert refused["headers"]["content-type"] == "application/problem+json"
    problem = json.loads(refused["body"])
    assert (problem["status"], problem["title"]) == (429, "Too Many Requests")
    assert len(route.bodies) == 1 + 5  # the three refused never reached the route
    # The right password, verified before: through the lock, from any address.
    assert post(guard, "/auth/token", login("caller", "right"))["status"] == 201
    # The CLI's token route is the same password check.
    assert post(guard, "/auth/token/cli", login("caller", "guess"))["status"] == 429


def test_the_body_reaches_the_route_unchanged_and_other_paths_are_not_guarded(engines) -> None:
    guard, route, _ = guarded(engines)
    body = login("caller", "right") + b"  "
    post(guard, "/auth/token", body)
    assert route.bodies == [body]
    for _ in range(30):  # 401s elsewhere (a bad bearer token) are not failed logins
        post(guard, "/api/v2/dags", b"{}")
    assert post(guard, "/auth/token", login("caller", "right"))["status"] == 201


def test_a_failure_is_counted_before_the_answer_reaches_the_client(engines) -> None:
    """A client that sends its next guess as soon as it reads a 401 must find this one
    counted (written after the response, the real api-server answered six 401s, not five)."""
    guard, _, policy = guarded(engines)
    counted_at_start: list[int] = []
    for n in range(3):
        post(
            guard,
            "/auth/token",
            login("caller", f"guess-{n}"),
            on_start=lambda: counted_at_start.append(len(policy.throttle)),
        )
    assert counted_at_start == [2, 4, 6]  # a user row and an address row per failure


def test_credentials_are_read_as_the_route_reads_them() -> None:
    assert credentials(login("caller", "pw")) == ("caller", "pw")
    assert credentials(b"not json") == ("", "")
    assert credentials(b"[1, 2]") == ("", "")
    assert credentials(b'{"username": 42}') == ("42", "")
