"""The one error body the project's answers use: an RFC 7807 problem, as Airflow's own API
errors are (``application/problem+json``; ``type`` about:blank, the status's title)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

MEDIA_TYPE = "application/problem+json"


def problem(status: int, detail: str) -> dict[str, Any]:
    return {
        "detail": detail,
        "status": status,
        "title": HTTPStatus(status).phrase,
        "type": "about:blank",
    }


def problem_bytes(status: int, detail: str) -> bytes:
    return json.dumps(problem(status, detail)).encode()


def flask_problem(status: int, detail: str) -> Any:
    """The problem as a Flask response (2.11's webserver)."""
    from flask import Response

    return Response(problem_bytes(status, detail), status=status, mimetype=MEDIA_TYPE)
