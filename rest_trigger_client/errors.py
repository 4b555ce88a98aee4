"""What can go wrong for a caller, each with its own exit code and a one-line message, and which
of them an HTTP error answer from Airflow means (the same on /api/v1 and /api/v2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rest_trigger_client.results import RunResult


class ExitCode(IntEnum):
    """The CLI's exit codes (also documented in ``rest-trigger --help``)."""

    OK = 0
    ERROR = 1  # anything unexpected: an API answer none of the codes below describes
    INVALID_INPUT = 2  # bad flags, or Airflow refused the conf (HTTP 400/422, with its reason)
    BAD_CREDENTIALS = 3  # HTTP 401/403, or 429 after too many failed logins
    DAG_UNAVAILABLE = 4  # the DAG does not exist (404) or is paused
    RUN_ID_CONFLICT = 5  # the run id is used (409) and we did not attach to it
    RUN_FAILED = 6  # the run ended "failed"
    TIMED_OUT = 7  # --timeout passed before the run ended; it keeps running in Airflow
    UNREACHABLE = 8  # no answer from Airflow, after retries with backoff


EXIT_CODE_HELP = """\
exit codes:
  0  the run succeeded (with --wait), or was created (without --wait)
  1  unexpected error (an API answer not listed here)
  2  invalid input: bad arguments, or Airflow refused the conf (HTTP 400 or 422, its reason
     shown)
  3  bad credentials (HTTP 401/403), or too many failed logins (HTTP 429): check
     AIRFLOW_USERNAME / AIRFLOW_PASSWORD
  4  the DAG is missing (HTTP 404) or paused (--unpause unpauses it)
  5  the run id is already used (HTTP 409) and was not attached to: add --wait to attach,
     or the existing run has a different conf
  6  the run failed: the failing task, its reason and the tail of its log are shown
  7  --timeout passed before the run finished (it keeps running; --wait with the same
     --run-id attaches to it again)
  8  Airflow is unreachable (after retries with backoff)"""


class RestTriggerError(Exception):
    """Base class: ``str(error)`` is one line meant for the caller; ``exit_code`` for the CLI."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


class InvalidInput(RestTriggerError):
    exit_code = ExitCode.INVALID_INPUT


class BadCredentials(RestTriggerError):
    exit_code = ExitCode.BAD_CREDENTIALS


class DagUnavailable(RestTriggerError):
    exit_code = ExitCode.DAG_UNAVAILABLE


class DagNotFound(DagUnavailable):
    pass


class DagPaused(DagUnavailable):
    pass


class RunIdConflict(RestTriggerError):
    exit_code = ExitCode.RUN_ID_CONFLICT


class RunFailed(RestTriggerError):
    exit_code = ExitCode.RUN_FAILED

    def __init__(self, message: str, result: RunResult):
        super().__init__(message)
        self.result = result


class WaitTimedOut(RestTriggerError):
    exit_code = ExitCode.TIMED_OUT


class Unreachable(RestTriggerError):
    exit_code = ExitCode.UNREACHABLE


class ApiError(RestTriggerError):
    """An HTTP answer the client has no specific meaning for (a 500, say)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class HttpError(Exception):
    """An HTTP error answer as the transport received it; ``http_error`` says what it means."""

    def __init__(
        self, status: int, reason: str | None, body: bytes, headers: Mapping[str, str] | None
    ):
        super().__init__(f"HTTP {status} {reason or ''}".strip())
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers or {}


def http_error(exc: HttpError, subject: str, username: str) -> RestTriggerError:
    """The exception a caller can act on, for an HTTP error answer about ``subject`` to the
    request of user ``username``."""
    detail = problem_detail(exc)
    status = exc.status
    # /api/v1 refuses a bad body with 400; /api/v2 (FastAPI) with 422 when the body's shape is
    # wrong (a param's value is still 400 there): both are the caller's input.
    if status in (400, 422):
        return InvalidInput(f"Airflow refused {subject} (HTTP {status}): {detail}")
    if status in (401, 403):
        return BadCredentials(
            f"Airflow refused the credentials of user {username!r} "
            f"(HTTP {status}): check AIRFLOW_USERNAME / AIRFLOW_PASSWORD, and that the "
            "user may trigger DAG runs"
        )
    if status == 404:
        return ApiError(f"{subject} not found (HTTP 404): {detail}", status)
    if status == 429:
        wait = (exc.headers or {}).get("Retry-After", "?")
        return BadCredentials(
            f"Airflow refuses logins for user {username!r} for {wait} s after "
            "too many failed ones (HTTP 429): check AIRFLOW_USERNAME / AIRFLOW_PASSWORD"
        )
    if status == 409:
        return RunIdConflict(f"{subject}: {detail}")
    return ApiError(f"Airflow answered HTTP {status} for {subject}: {detail}", status)


def problem_detail(exc: HttpError) -> str:
    """The first line of Airflow's problem ``detail`` (jsonschema adds the schema below it).
    /api/v1 sends a string; /api/v2 a string, FastAPI's list of field errors (422) or an object
    with a ``message`` (its 409)."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(body)
        detail = _detail_text(payload.get("detail")) or payload.get("title")
    except (TypeError, ValueError, AttributeError):
        detail = None
    text = str(detail or exc.reason or "no detail")
    return text.strip().splitlines()[0] if text.strip() else "no detail"


def _detail_text(detail: Any) -> str | None:
    if isinstance(detail, list):  # FastAPI: [{"loc": ["body", "conf"], "msg": "..."}, ...]
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
            if isinstance(item, dict)
            else str(item)
            for item in detail
        )
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("reason") or json.dumps(detail))
    return detail
