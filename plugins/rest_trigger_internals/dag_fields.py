"""Answers ``fields`` names that Airflow 2.11's DAG schemas cannot take with HTTP 400, not 500.

``GET /api/v1/dags``, ``/dags/{dag_id}`` and ``/dags/{dag_id}/details`` hand the ``fields``
values to marshmallow as ``only=``. marshmallow reads a dotted name as "field, then a field of
its nested schema", and a dotted name whose first part is no field raises ``KeyError`` (``0.5``:
``KeyError: '0'``), which Airflow does not catch (it catches only the ``ValueError`` of an
unknown plain name); a dotted name into a nested schema that lacks the rest raises a
``ValueError`` outside Airflow's ``try`` (``tags.nosuch``). Both escape as a 500, found by
tests/e2e/test_api_schema.py's coverage phase.

So before the view runs, each requested name is checked against the schema the endpoint dumps
with (DAGSchema, DAGDetailSchema): a field of it, or ``field.rest`` where the field is a nested
schema (or a list of one) that has ``rest``. Anything else gets a 400 problem naming the names.
Stricter than Airflow in one case, on purpose: ``dag_id.x`` (a dot into a field that has no
fields) was silently read as ``dag_id``; it is not a field name, so it is refused too.

Runs before authentication (a before-request hook), like connexion's own parameter checks: the
answer depends only on the spec's schemas, never on a DAG.

Depends on: ``airflow.api_connexion.schemas.dag_schema.DAGSchema`` / ``DAGDetailSchema`` being
what those three views dump with; marshmallow's reading of dotted ``only`` names; connexion
2.x's reading of an array query parameter (repeats joined, then split on commas); the views'
paths under /api/v1. Guarded by tests/plugins/internals/test_dag_fields.py. 2.11 only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from flask import Blueprint, Response, request
from marshmallow import Schema, fields
from rest_trigger_api.problem import flask_problem

# /dags, /dags/{dag_id}, /dags/{dag_id}/details; a dag_id has no slash.
_DAG_PATHS = re.compile(r"^/api/v1/dags(?:/(?P<dag_id>[^/]+)(?P<details>/details)?)?$")

blueprint = Blueprint("rest_trigger_dag_fields", __name__)


@cache
def _schema(details: bool) -> Schema:
    from airflow.api_connexion.schemas.dag_schema import DAGDetailSchema, DAGSchema

    return DAGDetailSchema() if details else DAGSchema()


def schema_for(path: str) -> Schema | None:
    """The schema the view at ``path`` dumps with, if it is one of the three DAG views."""
    match = _DAG_PATHS.match(path)
    if match is None:
        return None
    return _schema(details=match["details"] is not None)


def requested_fields(values: Iterable[str]) -> list[str]:
    """The names the view receives, read as connexion reads them (``fields=a,b&fields=c``)."""
    return ",".join(values).split(",")


def _resolves(schema: Schema, name: str) -> bool:
    head, dot, rest = name.partition(".")
    field = schema.fields.get(head)
    if field is None:
        return False
    if not dot:
        return True
    inner: Any = field.inner if isinstance(field, fields.List) else field
    return isinstance(inner, fields.Nested) and _resolves(inner.schema, rest)


def unknown_fields(schema: Schema, names: Iterable[str]) -> list[str]:
    return [name for name in names if not _resolves(schema, name)]


@blueprint.before_app_request
def refuse_unknown_field_names() -> Response | None:
    if request.method not in ("GET", "HEAD") or "fields" not in request.args:
        return None
    schema = schema_for(request.path)
    if schema is None:
        return None
    unknown = unknown_fields(schema, requested_fields(request.args.getlist("fields")))
    if not unknown:
        return None  # the view answers
    return flask_problem(
        400,
        f"fields: unknown field name(s) {', '.join(repr(n) for n in unknown)}; "
        f"known: {', '.join(sorted(schema.fields))}",
    )
