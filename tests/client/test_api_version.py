"""What differs between /api/v1 and /api/v2, without a server: the version named or found from
the /version answers, the trigger body, the JWT's expiry and when a refusal renews it, v2's
structured log as lines, and problem details in both APIs' shapes. (The real Airflow 3 checks
are test_airflow3_client.py; the real Airflow 2 ones test_trigger_client_e2e.py.)"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from rest_trigger_client.api_version import V1, V2, from_version_answers, named
from rest_trigger_client.auth import TokenAuth, token_expiry
from rest_trigger_client.errors import (
    BadCredentials,
    HttpError,
    InvalidInput,
    RunIdConflict,
    http_error,
)
from rest_trigger_client.logs import failure_reason
from rest_trigger_client.transport import Response


def answer(status: int, payload: Any) -> Response:
    return Response(status, {}, json.dumps(payload).encode(), "http://x")


def jwt(claims: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"e30.{body}.sig"


def test_the_version_named_or_found() -> None:
    assert named("v2") is V2 and named("V1") is V1 and named("auto") is None and named(None) is None
    with pytest.raises(InvalidInput, match="unknown API version 'v3'"):
        named("v3")
    airflow3 = answer(200, {"version": "3.3.2", "git_version": None})
    airflow2_v2 = Response(404, {}, b"<html>Not Found</html>", "http://x")
    airflow2_v1 = answer(200, {"version": "2.11.2", "git_version": None})
    assert from_version_answers(airflow3, None) is V2
    assert from_version_answers(airflow2_v2, None) is None
    assert from_version_answers(airflow2_v2, airflow2_v1) is V1
    assert from_version_answers(answer(200, {"hello": 1}), answer(404, {})) is None


def test_the_trigger_body() -> None:
    conf = {"gid": 42}
    assert V1.trigger_body("r", conf) == {"dag_run_id": "r", "conf": conf}
    assert V2.trigger_body("r", conf) == {"dag_run_id": "r", "conf": conf, "logical_date": None}


def test_the_token_expiry_and_what_renews_it() -> None:
    assert token_expiry(jwt({"exp": 1796138455, "iat": 1796052055})) == 1796138455
    assert token_expiry("not-a-jwt") is None
    tokens = iter(["t1", "t2"])
    posted: list[tuple[str, Any]] = []

    def post(path: str, body: Any) -> Response:
        posted.append((path, body))
        return answer(201, {"access_token": next(tokens)})

    auth = TokenAuth("caller", "pw", post)
    assert auth.headers() == {"Authorization": "Bearer t1"}
    assert auth.headers() == {"Authorization": "Bearer t1"}  # no exp claim: kept (an hour)
    assert posted == [("/auth/token", {"username": "caller", "password": "pw"})]
    assert not auth.refused(403, b'{"detail":"Forbidden"}')  # a role's refusal: not the token
    assert auth.refused(401, b'{"detail":"Token Expired"}')
    assert auth.headers() == {"Authorization": "Bearer t2"} and auth.fetched == 2

    refused = TokenAuth(
        "caller", "wrong", lambda p, b: answer(401, {"detail": "Invalid credentials"})
    )
    with pytest.raises(HttpError) as raised:
        refused.headers()
    assert isinstance(http_error(raised.value, "x", "caller"), BadCredentials)


def test_v2_structured_log_as_lines() -> None:
    log = answer(
        200,
        {
            "content": [
                {"event": "::group::Log message source details"},
                {"timestamp": "T1", "level": "info", "event": "Filling up the DagBag"},
                {
                    "timestamp": "T2",
                    "level": "error",
                    "event": "Task failed with exception",
                    "error_detail": [
                        {"exc_type": "AirflowFailException", "exc_value": "invalid conf: x"}
                    ],
                },
            ],
            "continuation_token": None,
        },
    )
    text = V2.log_text(log)
    assert text.splitlines()[1:] == [
        "T1 INFO - Filling up the DagBag",
        "T2 ERROR - Task failed with exception",
        "AirflowFailException: invalid conf: x",
    ]
    assert failure_reason(text) == "AirflowFailException: invalid conf: x"


def test_problem_details_of_both_apis() -> None:
    def error(status: int, payload: Any) -> Exception:
        return http_error(HttpError(status, None, json.dumps(payload).encode(), {}), "run 'r'", "u")

    v1 = error(400, {"detail": "Invalid input for param gid: 'x' is not of type 'integer'\n..."})
    assert isinstance(v1, InvalidInput)
    assert str(v1) == (
        "Airflow refused run 'r' (HTTP 400): Invalid input for param gid: 'x' is not of type "
        "'integer'"
    )
    fastapi = error(422, {"detail": [{"loc": ["body", "logical_date"], "msg": "Field required"}]})
    assert isinstance(fastapi, InvalidInput) and fastapi.exit_code == v1.exit_code
    assert str(fastapi).endswith("(HTTP 422): body.logical_date: Field required")
    conflict = error(409, {"detail": {"reason": "Unique constraint violation", "message": "m"}})
    assert isinstance(conflict, RunIdConflict) and str(conflict) == "run 'r': m"
