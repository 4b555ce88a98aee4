"""The guard on plugins/rest_trigger_internals/dag_fields.py: the three DAG views take ``fields``
as the check assumes (the spec's parameter, connexion's reading of it, the schemas the views
dump with), and every name the check lets through is one Airflow's schemas take. Fails when an
upgrade moves one of them (the check would then refuse good names or let bad ones through)."""

from __future__ import annotations

import inspect
from pathlib import Path

import airflow
import pytest
import yaml
from airflow.api_connexion.endpoints import dag_endpoint
from airflow.api_connexion.schemas.dag_schema import (
    DAGCollection,
    DAGCollectionSchema,
    DAGDetailSchema,
    DAGSchema,
)
from airflow.models.dag import DagModel
from connexion.decorators.uri_parsing import OpenAPIURIParser
from rest_trigger_internals.dag_fields import requested_fields, schema_for, unknown_fields

SPEC = Path(airflow.__file__).parent / "api_connexion" / "openapi" / "v1.yaml"
# path in the spec -> (the view, the schema it dumps with, what the check must pick)
VIEWS = {
    "/dags": (dag_endpoint.get_dags, "DAGCollectionSchema(only=[f\"dags.{field}\"", DAGSchema),
    "/dags/{dag_id}": (dag_endpoint.get_dag, "DAGSchema(only=fields)", DAGSchema),
    "/dags/{dag_id}/details": (
        dag_endpoint.get_dag_details, "DAGDetailSchema(only=fields)", DAGDetailSchema,
    ),
}  # fmt: skip


def _get_parameters(spec: dict, path: str) -> list[dict]:
    refs = spec["paths"][path]["get"]["parameters"]
    params = spec["components"]["parameters"]
    return [params[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in refs]


@pytest.mark.parametrize("path", list(VIEWS))
def test_the_views_take_fields_as_the_check_reads_them(path: str) -> None:
    spec = yaml.safe_load(SPEC.read_text())
    (fields,) = [p for p in _get_parameters(spec, path) if p["name"] == "fields"]
    assert fields["in"] == "query" and fields["schema"]["type"] == "array", fields
    assert "style" not in fields and "explode" not in fields, "not form/explode any more"
    # connexion joins repeats, then splits on commas: what requested_fields does.
    joined = OpenAPIURIParser._resolve_param_duplicates(["a,b", "c"], fields, "query")
    assert OpenAPIURIParser._split(joined, fields, "query") == requested_fields(["a,b", "c"])
    view, dumps_with, schema = VIEWS[path]
    assert "fields" in inspect.signature(view).parameters
    assert dumps_with in inspect.getsource(view), f"{view.__name__} dumps differently now"
    assert type(schema_for("/api/v1" + path.replace("{dag_id}", "a.dag"))) is schema


def _accepted_names(schema: type, *nested: str) -> list[str]:
    names = [*schema().fields, *nested]
    assert not unknown_fields(schema(), names)
    return names


def test_every_name_it_accepts_dumps_a_dag() -> None:
    dag = DagModel(dag_id="guard-fields", fileloc="/dev/null", is_paused=False, is_active=True)
    dag.tags = []
    # tags.name: a nested schema's field, through a list (DAGDetailSchema's tags are a Method)
    for name in _accepted_names(DAGSchema, "tags.name"):
        DAGSchema(only=[name]).dump(dag)
        DAGCollectionSchema(only=[f"dags.{name}", "total_entries"]).dump(
            DAGCollection(dags=[dag], total_entries=1)
        )
    for name in _accepted_names(DAGDetailSchema):
        DAGDetailSchema(only=[name])  # init is where an unknown name fails; dump needs a DAG


@pytest.mark.parametrize("name", ["0.5", "dag_id.x", "tags.nosuch", "", "tags."])
def test_names_no_schema_holds_are_refused(name: str) -> None:
    assert unknown_fields(DAGSchema(), [name]) == [name]
