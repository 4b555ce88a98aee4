"""Answers an unexpected error in an Airflow 2.11 REST API view with a problem+json 500, without
rendering Airflow's HTML error page, which fails there itself.

Why the page fails: a view's ``@provide_session`` rolls the scoped metadata session back when the
view raises, which expires every instance in it, then closes it, which detaches them. The
logged-in ``User`` (loaded into that same scoped session by the basic-auth backend) is one of
them. Airflow's 500 handler (``airflow.www.views.show_traceback``) asks
``get_auth_manager().is_logged_in()`` -> ``user.is_active``; the expired attribute needs a
refresh, the instance has no session: ``DetachedInstanceError``, and the caller gets gunicorn's
bare "Internal Server Error" page instead of any answer from Airflow.

The handler is registered for ``Exception``: Flask tries handlers by the raised class first (the
project's more specific ones, connexion's ``ProblemException``, win) and only then hands what is
left to the 500 page. On /api/ paths it logs the traceback (Flask logs only what reaches its
500 stage) and returns a 500 problem; an HTTPException goes back to Flask as if unhandled; any
other path re-raises, so the UI keeps Airflow's page. The project's own handlers
(api_client_errors, run_id_errors) hand an API error they do not map to ``unexpected_error``
instead of re-raising, for the same reason. What is raised outside a view (a before- or
after-request hook, an error handler) still reaches Airflow's page.

Depends on: Flask's order of error handlers (by exception class during the request, before the
500 stage; a handler's own raise going straight to the 500 stage), Airflow 2.11 registering its
500 page with ``register_error_handler(500, ...)`` (so a class handler is tried first), and the
REST API living under /api/. Guarded by tests/plugins/internals/test_api_server_errors.py.
2.11 only.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from rest_trigger_api.problem import flask_problem
from werkzeug.exceptions import HTTPException

API_PREFIX = "/api/"
DETAIL = "The server could not answer this request; its log has the reason."

blueprint = Blueprint("rest_trigger_api_server_errors", __name__)


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def unexpected_error(error: Exception) -> Response:
    """The 500 problem for an API request, the error logged with its traceback."""
    current_app.logger.error(
        "Unexpected error in %s %s", request.method, request.path, exc_info=error
    )
    return flask_problem(500, DETAIL)


@blueprint.app_errorhandler(Exception)
def api_error_without_the_html_page(error: Exception) -> Response | HTTPException:
    if isinstance(error, HTTPException):
        return error  # what Flask does with an HTTP error no handler claims
    if not is_api_request():
        raise error  # the UI keeps Airflow's own page
    return unexpected_error(error)
