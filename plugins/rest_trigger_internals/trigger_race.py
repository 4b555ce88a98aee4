"""Answers a POST /api/v1/dags/{dag_id}/dagRuns that lost a race on ``dag_run``'s unique keys as
Airflow answers it without the race (the run, or 409), not with a 500.

Airflow 2.11's ``post_dag_run`` looks for a run with the same ``dag_run_id`` or logical date,
then creates one; the two steps are not atomic. Two POSTs that pass the check together both
insert, and the second one's ``IntegrityError`` (``dag_run_dag_id_execution_date_key`` or
``dag_run_dag_id_run_id_key``) escapes the view: the caller gets a 500 for a request that was
fine. The common case needs no mistake at all: a POST without a logical date gets
``timezone.utcnow()``, and two POSTs in one microsecond (a burst of callers) share it. Seen as a
500 in `make bench-quick` (docs/results/2026-12-02-bench-quick-634963a.json).

The view is run again, up to ``ATTEMPTS`` times in all: its transaction was rolled back, so
nothing of the attempt is left, and the next attempt checks again with what the other request
committed. A caller that named no logical date gets a new ``utcnow()`` and its run; a caller
whose ``dag_run_id`` or logical date was taken gets Airflow's own 409. Each attempt is
authenticated again and writes its own ``api.post_dag_run`` row to the audit log.

Applied when the plugin's blueprint is registered (the webserver only, before Airflow's
connexion app resolves ``post_dag_run``), by replacing the module's function with one that
retries; a missing function stops the webserver at start-up instead of leaving the race.

Depends on: ``airflow.api_connexion.endpoints.dag_run_endpoint.post_dag_run`` being the view of
that operation, resolved from the module after the plugins' blueprints are registered
(``create_app``: ``init_plugins`` before ``init_api_connexion``); the view's session rolled
back when it raises; its catching only ``ValueError``/``ParamValidationError``; 2.11's
``DAGRunSchema.autogenerate`` giving a missing logical date ``str(timezone.utcnow())``.
Guarded by tests/plugins/internals/test_trigger_race.py and, against the real webserver and
PostgreSQL, tests/e2e/test_trigger_race_e2e.py. 2.11 only (rest_trigger_plugins.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import IntegrityError

ATTEMPTS = 3
RETRIED = "_rest_trigger_retried"  # marks the wrapper, so that registering twice wraps once
RUN_KEYS = "dag_run"  # in the error's text: PostgreSQL and MySQL name the key, SQLite the table
RETRY_LOG = "lost a race on dag_run's keys; trying again"  # counted by the bench and the tests

log = logging.getLogger(__name__)

blueprint = Blueprint("rest_trigger_trigger_race", __name__)


def lost_a_race(error: IntegrityError) -> bool:
    """The error is a clash on one of dag_run's keys, which the view checked a moment before."""
    return RUN_KEYS in str(error.orig)


def retried(view: Callable[..., Any]) -> Callable[..., Any]:
    """``view``, run again when it lost the race (the signature kept: connexion reads it)."""
    if getattr(view, RETRIED, False):
        return view

    @wraps(view)
    def post_dag_run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return view(*args, **kwargs)
            except IntegrityError as error:
                if attempt == ATTEMPTS or not lost_a_race(error):
                    raise
                log.warning(
                    "POST dagRuns attempt %d of %d %s: %s",
                    attempt, ATTEMPTS, RETRY_LOG, str(error.orig).splitlines()[0],
                )  # fmt: skip
        raise AssertionError("unreachable: the last attempt returns or raises")

    setattr(post_dag_run, RETRIED, True)
    return post_dag_run


@blueprint.record_once
def retry_post_dag_run(_state: BlueprintSetupState) -> None:
    from airflow.api_connexion.endpoints import dag_run_endpoint

    dag_run_endpoint.post_dag_run = retried(dag_run_endpoint.post_dag_run)
