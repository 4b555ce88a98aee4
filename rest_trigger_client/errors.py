"""What can go wrong for a caller, each with its own exit code and a one-line message."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rest_trigger_client.results import RunResult


class ExitCode(IntEnum):
    """The CLI's exit codes (also documented in ``rest-trigger --help``)."""

    OK = 0
    ERROR = 1  # anything unexpected: an API answer none of the codes below describes
    INVALID_INPUT = 2  # bad flags, or Airflow refused the conf (HTTP 400, with its reason)
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
  2  invalid input: bad arguments, or Airflow refused the conf (HTTP 400, its reason shown)
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
