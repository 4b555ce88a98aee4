"""A client for the ``rest-trigger`` DAG: trigger a run over Airflow's REST API, wait for it,
and get its result. ``rest-trigger --help`` is the command line; this is the Python API."""

from __future__ import annotations

from rest_trigger_client.client import (
    RestTriggerClient,
    Triggered,
    raise_for_failure,
    trigger_and_wait,
)
from rest_trigger_client.errors import (
    ApiError,
    BadCredentials,
    DagNotFound,
    DagPaused,
    DagUnavailable,
    ExitCode,
    InvalidInput,
    RestTriggerError,
    RunFailed,
    RunIdConflict,
    Unreachable,
    WaitTimedOut,
)
from rest_trigger_client.many import ListedRun, WaitManyProgress, WaitManyResult
from rest_trigger_client.results import RunConf, RunResult, RunStatus, TaskFailure, TaskStatus

__all__ = [
    "ApiError",
    "BadCredentials",
    "DagNotFound",
    "DagPaused",
    "DagUnavailable",
    "ExitCode",
    "InvalidInput",
    "ListedRun",
    "RestTriggerClient",
    "RestTriggerError",
    "RunConf",
    "RunFailed",
    "RunIdConflict",
    "RunResult",
    "RunStatus",
    "TaskFailure",
    "TaskStatus",
    "Triggered",
    "Unreachable",
    "WaitManyProgress",
    "WaitManyResult",
    "WaitTimedOut",
    "raise_for_failure",
    "trigger_and_wait",
]
