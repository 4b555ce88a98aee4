"""Answers a malformed ``dag_run_id`` with HTTP 400 instead of Airflow 2.11's HTML 500 page.

Airflow checks the id against ``[scheduler] allowed_run_id_pattern`` only when it creates the
run, and the AirflowException it raises there escapes the REST API as "Ooops! Something bad has
happened". Callers deserve the reason. The handler runs after authentication (inside the view),
changes nothing for any other error, and keeps Airflow's own message.
"""

from __future__ import annotations

import re

from airflow import __version__ as _airflow_version
from airflow.exceptions import AirflowException
from airflow.plugins_manager import AirflowPlugin
from flask import Blueprint, Response, json, request

_RUNS_PATH = re.compile(r"^/api/v1/dags/[^/]+/dagRuns$")
_BAD_RUN_ID = "The provided run ID"

blueprint = Blueprint("rest_trigger_run_id_errors", __name__)


@blueprint.app_errorhandler(AirflowException)
def bad_run_id_is_a_client_error(error: AirflowException) -> Response:
    if not (
        request.method == "POST"
        and _RUNS_PATH.match(request.path)
        and str(error).startswith(_BAD_RUN_ID)
    ):
        raise error  # every other AirflowException keeps Airflow's own handling
    body = {
        "detail": str(error),
        "status": 400,
        "title": "Bad Request",
        "type": "about:blank",
    }
    return Response(json.dumps(body), status=400, mimetype="application/problem+json")


# Airflow 2.11 only: 3.x serves its API (/api/v2) from FastAPI, where a Flask blueprint's error
# handlers never run, and answers a malformed dag_run_id with a 4xx by itself.
if _airflow_version.startswith("2."):

    class RunIdErrorsPlugin(AirflowPlugin):
        name = "rest_trigger_run_id_errors"
        flask_blueprints = [blueprint]
