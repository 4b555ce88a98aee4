"""Everything in which Airflow 2's /api/v1 and Airflow 3's /api/v2 differ for this client: the path
prefix, health and login paths (from rest_trigger_etl.airflow_compat, the project's one module
of version differences), and, the client's own, the login, the trigger body, the date the run
listings filter on, and the log format. Everything else (paths below the prefix, the run, task
instance and XCom JSON, the status codes the client acts on) is the same on both, so the client
has one code path.

Which one a server speaks is asked once per client: ``GET /api/v2/version`` (public on Airflow
3; Airflow 2 answers 404), else ``GET /api/v1/version`` (public on Airflow 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rest_trigger_client.auth import BasicAuth, PostJson, TokenAuth
from rest_trigger_client.errors import InvalidInput
from rest_trigger_etl.airflow_compat import API_V1, API_V2

if TYPE_CHECKING:
    from rest_trigger_client.transport import Response

AUTO = "auto"


def _basic(username: str, password: str, post: PostJson) -> BasicAuth:
    return BasicAuth(username, password)


def _v1_log(answer: Response) -> str:
    return answer.text  # asked for as text/plain


def _v2_log(answer: Response) -> str:
    """/api/v2's log is JSON: ``content`` is a list of structured records (``event``, ``level``,
    ``timestamp``, and ``error_detail`` with the exception of a failed task). As lines like
    Airflow 2's text log, so that logs.py reads both alike: the exception as ``Type: value``."""
    lines = []
    for record in answer.json().get("content") or []:
        if not isinstance(record, Mapping):
            lines.append(str(record))
            continue
        level = str(record.get("level") or "").upper()
        prefix = f"{record.get('timestamp', '')} {level} - " if level else ""
        lines.append(f"{prefix}{record.get('event', '')}")
        for error in record.get("error_detail") or []:
            lines.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ApiVersion:
    name: str  # "v1" or "v2", as --api takes it
    prefix: str  # the REST API's path under the base URL
    login: Callable[[str, str, PostJson], BasicAuth | TokenAuth]
    # Trigger body fields besides dag_run_id and conf. /api/v2 requires logical_date (null: the
    # run has none, so two runs may be created at once) and refuses unknown fields.
    trigger_fields: Mapping[str, Any] = field(default_factory=dict)
    # The run listings' filter for "triggered from then on": v2 runs triggered as above have no
    # logical date, but all have run_after (v1 has no run_after; execution_date is its filter).
    since_filter: str = "execution_date_gte"
    log_accept: str = "text/plain"
    log_text: Callable[[Response], str] = _v1_log
    # Health under the prefix, and the parts of it that must be healthy before runs can run: on
    # Airflow 3 the DAG processor is its own process, and it is what serves the DAG.
    health: str = "/health"
    health_parts: tuple[str, ...] = ("metadatabase", "scheduler")
    # Whether the API may have the wait endpoint (wait_stream.py): /api/v2 from Airflow 3.1;
    # 3.0 lacks it, which the first wait finds out (a 404/405) and the client remembers.
    wait_endpoint: bool = False

    def trigger_body(self, run_id: str, conf: Mapping[str, Any]) -> dict[str, Any]:
        return {"dag_run_id": run_id, "conf": dict(conf), **self.trigger_fields}

    def __str__(self) -> str:
        return self.name


V1 = ApiVersion(
    API_V1.name, API_V1.prefix, _basic, health=API_V1.health, health_parts=API_V1.health_parts
)
V2 = ApiVersion(
    API_V2.name,
    API_V2.prefix,
    TokenAuth,
    trigger_fields={"logical_date": None},
    since_filter="run_after_gte",
    log_accept="application/json",
    log_text=_v2_log,
    health=API_V2.health,
    health_parts=API_V2.health_parts,
    wait_endpoint=True,
)
VERSIONS = {v.name: v for v in (V1, V2)}
CHOICES = (AUTO, *VERSIONS)


def named(name: str | None) -> ApiVersion | None:
    """The version ``--api`` / AIRFLOW_API_VERSION names; None for auto (ask the server)."""
    if name in (None, "", AUTO):
        return None
    try:
        return VERSIONS[name.lower()]
    except KeyError:
        raise InvalidInput(
            f"unknown API version {name!r}: use one of {', '.join(CHOICES)}"
        ) from None


def from_version_answers(v2: Response, v1: Response | None) -> ApiVersion | None:
    """The version that answered its ``/version`` with Airflow's version JSON, v2 first."""
    for version, answer in ((V2, v2), (V1, v1)):
        if answer is not None and answer.status_code == 200 and _is_version_info(answer):
            return version
    return None


def _is_version_info(answer: Response) -> bool:
    try:
        return "version" in answer.json()
    except (ValueError, json.JSONDecodeError, TypeError):
        return False
