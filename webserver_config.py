"""The Airflow webserver's Flask settings for this project (`[webserver] config_file`).

Airflow 2.11 loads this file after its own settings, inside the app context, so what it sets
wins and ``current_app`` is the webserver's Flask app. Used by ``make run`` and, mounted at
/opt/airflow/webserver_config.py, by the compose stack. It holds no secret.
"""

from __future__ import annotations

from flask import Response, current_app, json
from flask_appbuilder.const import AUTH_DB
from werkzeug.exceptions import RequestEntityTooLarge

# Airflow's own defaults (its default_webserver_config.py), which this file replaces: users and
# passwords in the metadata database, CSRF protection for the UI's forms.
AUTH_TYPE = AUTH_DB
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None

# The largest request body accepted, in bytes; larger ones get 413. A trigger's body is a run id
# and four conf fields (under 300 bytes). It must be an int: Airflow 2.11 sets a float
# (allowed_payload_size MiB x 1024 x 1024), and with a float werkzeug asks gunicorn for a
# fractional number of bytes once less than 64 KiB remain before the limit: gunicorn raises
# TypeError and the caller gets 500 for bodies of 983,041 to 1,048,575 bytes.
MAX_CONTENT_LENGTH = 64 * 1024


def _too_large(error: RequestEntityTooLarge) -> Response:
    """413 as a JSON problem, like the API's other errors, whatever the path or the login."""
    body = {
        "detail": f"The request body is larger than {MAX_CONTENT_LENGTH} bytes, the limit here.",
        "status": 413,
        "title": "Request Entity Too Large",
        "type": "about:blank",
    }
    return Response(json.dumps(body), status=413, mimetype="application/problem+json")


current_app.register_error_handler(RequestEntityTooLarge, _too_large)
