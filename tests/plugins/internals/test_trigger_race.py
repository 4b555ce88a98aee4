"""The guard on plugins/rest_trigger_internals/trigger_race.py: the retry itself, and what it
relies on in Airflow 2.11. Fails when Airflow stops resolving POST dagRuns to the module's
``post_dag_run`` after the plugins are registered, starts handling the clash itself (then the
retry can go), or stops giving a POST without a logical date ``utcnow()``. The race against a
real webserver and PostgreSQL: tests/e2e/test_trigger_race_e2e.py."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.api_connexion.endpoints import dag_run_endpoint
from airflow.api_connexion.schemas import dag_run_schema
from airflow.models.dagrun import DagRun
from airflow.www import app as www_app
from airflow.www.extensions import init_views
from flask import Flask
from rest_trigger_internals import trigger_race
from sqlalchemy.exc import IntegrityError

OPERATION = "airflow.api_connexion.endpoints.dag_run_endpoint.post_dag_run"
CLASH = IntegrityError(
    "INSERT INTO dag_run ...", {},
    Exception('duplicate key value violates unique constraint "dag_run_dag_id_execution_date_key"'
              "\nDETAIL:  Key (dag_id, execution_date)=(rest-trigger, ...) already exists."),
)  # fmt: skip
OTHER = IntegrityError("INSERT INTO log ...", {}, Exception('null value in column "dttm"'))


class View:
    """A view that raises the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, *, dag_id: str, session: Any = None) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return f"run of {dag_id}"


@pytest.fixture
def restored() -> Iterator[Any]:
    """Airflow's own view in the module for the test (another test may have built the app)."""
    original = dag_run_endpoint.post_dag_run
    dag_run_endpoint.post_dag_run = getattr(original, "__wrapped__", original)
    yield dag_run_endpoint.post_dag_run
    dag_run_endpoint.post_dag_run = original


def test_a_lost_race_is_run_again_and_the_next_answer_is_the_callers() -> None:
    view = View(CLASH)
    assert trigger_race.retried(view)(dag_id="rest-trigger") == "run of rest-trigger"
    assert view.calls == 2


def test_it_gives_up_after_the_attempts_with_the_last_error() -> None:
    view = View(*[CLASH] * trigger_race.ATTEMPTS)
    with pytest.raises(IntegrityError) as raised:
        trigger_race.retried(view)(dag_id="rest-trigger")
    assert raised.value is CLASH
    assert view.calls == trigger_race.ATTEMPTS


def test_other_integrity_errors_are_not_run_again() -> None:
    view = View(OTHER)
    with pytest.raises(IntegrityError):
        trigger_race.retried(view)(dag_id="rest-trigger")
    assert view.calls == 1


def test_the_wrapper_keeps_the_views_signature_and_wraps_once() -> None:
    view = View()
    wrapped = trigger_race.retried(view)
    # connexion passes the parameters the signature names.
    assert inspect.signature(wrapped) == inspect.signature(view)
    assert trigger_race.retried(wrapped) is wrapped


def test_registering_the_blueprint_replaces_the_view_airflow_resolves(restored: Any) -> None:
    original = restored
    Flask(__name__).register_blueprint(trigger_race.blueprint)
    Flask(__name__).register_blueprint(trigger_race.blueprint)  # a second app: still once
    resolved = init_views._LazyResolver().resolve_function_from_operation_id(OPERATION)
    assert resolved is dag_run_endpoint.post_dag_run
    assert getattr(resolved, trigger_race.RETRIED) is True
    assert resolved.__wrapped__ is original


def test_airflow_routes_post_dag_runs_to_that_function() -> None:
    spec_file = Path(inspect.getfile(init_views)).parents[2] / "api_connexion/openapi/v1.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    operation = spec["paths"]["/dags/{dag_id}/dagRuns"]["post"]
    controller = operation["x-openapi-router-controller"]
    assert f"{controller}.{operation['operationId']}" == OPERATION


def test_create_app_registers_the_plugins_before_the_api() -> None:
    source = inspect.getsource(www_app.create_app)
    assert source.index("init_plugins(flask_app)") < source.index("init_api_connexion(flask_app)")


def test_airflow_still_leaves_the_clash_unhandled() -> None:
    """If this fails, 2.11 handles the race itself: check, then drop trigger_race.py."""
    source = inspect.getsource(inspect.unwrap(dag_run_endpoint.post_dag_run))
    assert "except (ValueError, ParamValidationError)" in source
    assert "IntegrityError" not in source
    check, create = source.index("or_(DagRun.run_id == run_id"), source.index("dag.create_dagrun(")
    assert check < create  # look first, insert second: the race


def test_a_post_without_a_logical_date_gets_the_clock_and_the_keys_are_unique() -> None:
    assert 'data["logical_date"] = str(timezone.utcnow())' in inspect.getsource(
        dag_run_schema.DAGRunSchema.autogenerate
    )
    unique = {
        tuple(c.name for c in constraint.columns): constraint.name
        for constraint in DagRun.__table__.constraints
        if constraint.__class__.__name__ == "UniqueConstraint"
    }
    for key in (("dag_id", "execution_date"), ("dag_id", "run_id")):
        assert trigger_race.RUN_KEYS in unique[key], unique  # what lost_a_race looks for
