"""The guard on plugins/rest_trigger_internals/auth_manager.py: the private FabAuthManager methods
it overrides or calls exist with the parameters it passes, on 2.11 and on 3.x, and FAB's
resource names are the ones the caller role's file holds. Fails when an upgrade moves them."""

from __future__ import annotations

from rest_trigger_local.settings import PROJECT_DIR
from tests.support.probe import on_both_airflows, python_probe

PLUGINS = str(PROJECT_DIR / "plugins")

PROBE = f"""
import inspect, json, sys
sys.path.insert(0, {PLUGINS!r})
from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager
from rest_trigger_etl.airflow_compat import DagAccessEntity, fab_permissions as p
from rest_trigger_internals.auth_manager import RestTriggerAuthManager

def params(name):
    member = getattr(FabAuthManager, name, None)
    return sorted(inspect.signature(member).parameters) if callable(member) else None

print(json.dumps({{
    "is_authorized_dag": params("is_authorized_dag"),
    "_is_authorized_dag": params("_is_authorized_dag"),
    "_is_authorized": params("_is_authorized"),
    "_get_root_dag_id": params("_get_root_dag_id"),
    "run_entity": DagAccessEntity.RUN.name,
    "resources": [p.RESOURCE_DAG_RUN, p.resource_name("rest-trigger", p.RESOURCE_DAG_RUN)],
    "subclass": issubclass(RestTriggerAuthManager, FabAuthManager),
    "overrides_root_lookup": "_get_root_dag_id" in vars(RestTriggerAuthManager),
    "major": int(__import__("airflow").__version__.split(".")[0]),
}}))
"""


@on_both_airflows()
def test_the_fab_internals_it_relies_on_are_where_it_expects(python: str) -> None:
    found = python_probe(PROBE, python=python)
    assert found["subclass"] is True
    # The public method it overrides, and the keywords it passes on.
    assert {"method", "access_entity", "details", "user"} <= set(found["is_authorized_dag"])
    # The private ones it calls, with the keywords it calls them with.
    assert found["_is_authorized_dag"] is not None, "FabAuthManager._is_authorized_dag is gone"
    assert {"method", "details", "user"} <= set(found["_is_authorized_dag"])
    assert found["_is_authorized"] is not None, "FabAuthManager._is_authorized is gone"
    assert {"method", "resource_type", "user"} <= set(found["_is_authorized"])
    if found["major"] == 2:  # FAB 1.5.4 looks up a dotted id's root DAG (sub-DAGs)
        assert found["_get_root_dag_id"] is not None, "FabAuthManager._get_root_dag_id is gone"
        assert "dag_id" in found["_get_root_dag_id"]
    else:  # 3.x has no sub-DAGs; should FAB bring the lookup back, the override must return
        assert found["_get_root_dag_id"] is None, "FAB has _get_root_dag_id again: re-check it"
    assert found["overrides_root_lookup"] is (found["major"] == 2)
    assert found["run_entity"] == "RUN"
    assert found["resources"] == ["DAG Runs", "DAG Run:rest-trigger"]
