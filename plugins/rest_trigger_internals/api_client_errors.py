"""Answers API requests with values the database or Airflow cannot take with HTTP 400, not 500.

Airflow 2.11 passes several query values straight into its SQL or its enums without checking
them, and what it gets back escapes the REST API as an HTML 500 page. Found by
tests/e2e/test_api_schema.py (schemathesis, Airflow's own OpenAPI spec) on the endpoints callers
use (dagRuns, a run, its task instances, XCom, logs):

- a negative ``limit``, or an ``offset`` or number beyond PostgreSQL's integer range, or a date
  PostgreSQL cannot hold: sqlalchemy ``DataError`` (SQLSTATE class 22, "data exception");
- a NUL character in a string (``state``, ``pool``, ...): psycopg2 raises ``ValueError`` before
  the query is sent;
- a ``state`` value that is no task or run state: ``ValueError`` from the state enum.

Each is the caller's mistake, so the caller gets a 400 problem with the reason. Only /api/v1
requests and exactly these errors are answered here; any other ValueError of an API request is
a 500 problem (api_server_errors.py), and other paths keep Airflow's handling.

Depends on: psycopg2's message text for a NUL in a string ("A string literal cannot contain
NUL (0x00) characters."), the state enums' ValueError texts (" is not a valid
TaskInstanceState" / "DagRunState"), and 2.11's Flask API letting those exceptions escape its
views. Guarded by tests/plugins/internals/test_api_client_errors.py. 2.11 only.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from rest_trigger_api.problem import flask_problem
from sqlalchemy.exc import DataError

from rest_trigger_internals.api_server_errors import unexpected_error

_API_PREFIX = "/api/v1/"
NUL_IN_STRING = "A string literal cannot contain NUL (0x00) characters."
NOT_A_STATE = (" is not a valid TaskInstanceState", " is not a valid DagRunState")

blueprint = Blueprint("rest_trigger_api_client_errors", __name__)


def _bad_request(detail: str) -> Response:
    return flask_problem(400, detail)


@blueprint.app_errorhandler(DataError)
def database_refused_a_value(error: DataError) -> Response:
    if not request.path.startswith(_API_PREFIX):
        raise error
    # The server's own one-line reason ("LIMIT must not be negative", "integer out of range").
    reason = str(error.orig).strip().splitlines()[0] if error.orig else "invalid value"
    return _bad_request(f"A value in the request cannot be used: {reason}")


@blueprint.app_errorhandler(ValueError)
def value_airflow_cannot_parse(error: ValueError) -> Response:
    message = str(error)
    if not request.path.startswith(_API_PREFIX):
        raise error
    if message == NUL_IN_STRING:
        return _bad_request("A value in the request contains a NUL character.")
    if message.endswith(NOT_A_STATE):
        return _bad_request(f"Invalid state: {message}")
    # Not the caller's mistake: a 500 problem (api_server_errors), not Airflow's HTML page.
    return unexpected_error(error)
