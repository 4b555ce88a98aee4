"""Answers a malformed ``dag_run_id`` with HTTP 400 instead of Airflow 2.11's HTML 500 page.

Depends on: Airflow 2.11's message text "The provided run ID ..." (``DagRun``'s check against
``[scheduler] allowed_run_id_pattern``, raised as a bare ``AirflowException`` from
``airflow/models/dag.py``), and its escaping the Flask API as an HTML 500. Guarded by
tests/plugins/internals/test_run_id_errors.py. 2.11 only (rest_trigger_plugins.py).

Airflow checks the id against ``[scheduler] allowed_run_id_pattern`` only when it creates the
run, and the AirflowException it raises there escapes the REST API as "Ooops! Something bad has
happened". Callers deserve the reason. The handler runs after authentication (inside the view),
keeps Airflow's own message; any other AirflowException of an API request is a 500 problem
(api_server_errors.py), and the UI's keep Airflow's page.
"""

from __future__ import annotations

import re

from airflow.exceptions import AirflowException
from flask import Blueprint, Response, request
from rest_trigger_api.problem import flask_problem

from rest_trigger_internals.api_server_errors import is_api_request, unexpected_error

_RUNS_PATH = re.compile(r"^/api/v1/dags/[^/]+/dagRuns$")
BAD_RUN_ID = "The provided run ID"

blueprint = Blueprint("rest_trigger_run_id_errors", __name__)


@blueprint.app_errorhandler(AirflowException)
def bad_run_id_is_a_client_error(error: AirflowException) -> Response:
    if not (
        request.method == "POST"
        and _RUNS_PATH.match(request.path)
        and str(error).startswith(BAD_RUN_ID)
    ):
        if is_api_request():  # a 500 problem, not Airflow's HTML page (api_server_errors)
            return unexpected_error(error)
        raise error  # the UI keeps Airflow's own handling
    return flask_problem(400, str(error))
