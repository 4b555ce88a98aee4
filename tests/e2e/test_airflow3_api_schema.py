"""The property test of tests/e2e/test_api_schema.py on Airflow 3: schemathesis over Airflow's
own OpenAPI specs as shipped in .venv-airflow3 (the core /api/v2 one, and the FAB auth
manager's for POST /auth/token), against `make run AIRFLOW=3`'s stack (``airflow3_stack``).

The operations callers use: the token, trigger, get and list runs, task instances, XCom
entries, logs, the wait endpoint; and the DAG reads. Each generated request goes out with a
bearer token and with none, and must get no 5xx and a response that conforms to the spec. The
coverage phase (boundaries, wrong types, optional query parameters) and SCHEMA_EXAMPLES fuzzing
examples per operation, from a fixed seed (SCHEMA_SEED). The last test prints, per operation,
the requests sent and the 5xx seen.

Not sent: a well-formed login other than the admin's to /auth/token. Random usernames and
passwords would be password guesses, which a login throttle is meant to count (and Airflow
answers each with the same 401). Malformed bodies are sent (they fail before any password is
checked), and the admin's own login is.

Two answers are excluded from the schema check (each counted and printed), both mismatches
between Airflow 3.3.2 and its own spec, neither a 5xx:

- a 422 whose ``detail`` is a string: Airflow's own checks of enum query values (``state``,
  ``run_type``, ... in ``api_fastapi/common/parameters.py``) raise ``HTTPException(422,
  detail="Invalid value for ...")``, while the spec declares every 422 an
  ``HTTPValidationError`` (``detail``: an array). The status is still checked;
- the wait endpoint's 200: ``StreamingResponse(waiter.wait())`` sends no Content-Type, so no
  documented media type (application/json, application/x-ndjson) can be matched. Its body is
  checked here instead: NDJSON lines, each an object with the run's ``state``.

Named to sort before test_airflow3_stack.py, whose last test stops the session's stack.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

from rest_trigger_etl.airflow_compat import API_V2
from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL
from tests.support.airflow_stack import AIRFLOW3_TOKEN_LIFETIME, AirflowStack
from tests.support.harness import AIRFLOW3_PYTHON
from tests.support.schema_fuzz import EXAMPLES, SEED, schemathesis_config

pytestmark = [
    pytest.mark.airflow3,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not AIRFLOW3_PYTHON.exists(), reason="no .venv-airflow3 (make venv-airflow3)"
    ),
]

SITE = next((AIRFLOW3_PYTHON.parent.parent / "lib").glob("python3*/site-packages"), Path("/-"))
CORE_SPEC = SITE / "airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml"
AUTH_SPEC = (
    SITE
    / "airflow/providers/fab/auth_manager/api_fastapi/openapi/"
    / ("v2-fab-auth-manager-generated.yaml")
)
RUN_ID = "schema-run-3"
RUNS = "/api/v2/dags/{dag_id}/dagRuns"
RUN = RUNS + "/{dag_run_id}"
TASK = RUN + "/taskInstances/{task_id}"
WAIT = RUN + "/wait"
OPERATIONS = {
    ("GET", "/api/v2/dags"),
    ("GET", "/api/v2/dags/{dag_id}"),
    ("POST", RUNS),
    ("GET", RUNS),
    ("GET", RUN),
    ("GET", WAIT),
    ("GET", RUN + "/taskInstances"),
    ("GET", TASK),
    ("GET", TASK + "/xcomEntries"),
    ("GET", TASK + "/xcomEntries/{xcom_key}"),
    ("GET", TASK + "/logs/{try_number}"),
}
TOKEN = ("POST", API_V2.token)
KNOWN_PATH_VALUES = {
    "dag_id": DAG_ID,
    "dag_run_id": RUN_ID,
    "task_id": MAIN_ETL,
    "xcom_key": "return_value",
    "try_number": 1,
}
CONFIG = schemathesis_config(KNOWN_PATH_VALUES)

# operation label -> "requests", "5xx", "honoured" (past auth with the token), "not sent",
# "excluded: <reason>" (answers the schema check skipped)
SEEN: dict[str, Counter[str]] = {}


def _schema(spec: Path, operations: set[tuple[str, str]]) -> Any:
    if not spec.exists():  # no .venv-airflow3: the module is skipped, but it must import
        return None
    loaded = schemathesis.openapi.from_path(spec, config=SchemathesisConfig.from_dict(CONFIG))
    return loaded.include(
        lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in operations
    )


core = _schema(CORE_SPEC, OPERATIONS)
auth = _schema(AUTH_SPEC, {TOKEN})


class Tokens:
    """The admin's bearer token, renewed before it expires (the test stack's last 20 s)."""

    def __init__(self, stack: AirflowStack) -> None:
        self.stack = stack
        self.token = ""
        self.got = 0.0

    def header(self) -> dict[str, str]:
        if time.monotonic() - self.got > AIRFLOW3_TOKEN_LIFETIME / 2:
            username, password = self.stack.admin
            answer = requests.post(
                self.stack.base_url + API_V2.token,
                json={"username": username, "password": password}, timeout=60,
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
            self.token, self.got = answer.json()["access_token"], time.monotonic()
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def stack3(airflow3_stack: AirflowStack) -> AirflowStack:
    """The stack after one run that succeeded (runs, task instances, XCom, logs to read)."""
    airflow3_stack.trigger(RUN_ID, DEMO_CONF).raise_for_status()
    assert airflow3_stack.wait_for_run(RUN_ID)["state"] == "success"
    return airflow3_stack


@pytest.fixture(scope="module")
def tokens(stack3: AirflowStack) -> Tokens:
    return Tokens(stack3)


def _excluded(case: Any, response: requests.Response) -> str | None:
    """Why the schema check does not apply to this answer (the module's docstring), or None."""
    if response.status_code == 422:
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            return None
        if isinstance(detail, str):
            return "422 with a string detail"
    wait_ok = case.operation.path == WAIT and response.status_code == 200
    if wait_ok and "Content-Type" not in response.headers:
        lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        assert lines and all("state" in line for line in lines), response.text[:300]
        return "wait 200 without Content-Type"
    return None


def _send(case: Any, stack: AirflowStack, tokens: Tokens) -> None:
    seen = SEEN.setdefault(case.operation.label, Counter())
    for name, headers in (("token", tokens.header), ("none", dict)):
        response = case.call(base_url=stack.base_url, headers=headers(), timeout=60)
        seen["requests"] += 1
        seen["5xx"] += response.status_code >= 500
        if name == "token" and response.status_code not in (401, 403):
            seen["honoured"] += 1
        checks = [not_a_server_error]
        if (reason := _excluded(case, response)) is None:
            checks.append(response_schema_conformance)
        else:
            seen[f"excluded: {reason}"] += 1
        try:
            case.validate_response(response, checks=checks)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def _a_password_guess(body: Any, admin: tuple[str, str]) -> bool:
    login = isinstance(body, dict) and {"username", "password"} <= body.keys()
    return (
        login
        and all(isinstance(body[k], str) for k in ("username", "password"))
        and ((body["username"], body["password"]) != admin)
    )


if core is not None:

    @core.parametrize()
    @settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def test_no_5xx_and_responses_match_the_spec(case, stack3, tokens) -> None:
        _send(case, stack3, tokens)

    @auth.parametrize()
    @settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def test_the_token_endpoint_has_no_5xx_and_matches_its_spec(case, stack3, tokens) -> None:
        if _a_password_guess(case.body, stack3.admin):
            SEEN.setdefault(case.operation.label, Counter())["not sent"] += 1
            return
        _send(case, stack3, tokens)


def test_every_operation_was_asked_and_reached(capsys: pytest.CaptureFixture[str]) -> None:
    total = sum(SEEN.values(), Counter())
    with capsys.disabled():
        print(f"\nAirflow 3 schemathesis seed {SEED}, coverage + {EXAMPLES} fuzzing examples")
        for label, seen in sorted(SEEN.items()):
            notes = "".join(f", {n} {k}" for k, n in sorted(seen.items()) if " " in k)
            print(f"  {label}: {seen['requests']} requests, {seen['5xx']} 5xx{notes}")
        notes = "".join(f", {n} {k}" for k, n in sorted(total.items()) if " " in k)
        print(f"  all: {total['requests']} requests, {total['5xx']} 5xx{notes}")
    asked = {tuple(label.split(" ", 1)) for label in SEEN}
    assert asked == {*OPERATIONS, TOKEN}, f"not asked: {({*OPERATIONS, TOKEN}) - asked}"
    refused = [label for label, seen in SEEN.items() if not seen["honoured"]]
    assert not refused, f"every request was refused at login: {refused}"
