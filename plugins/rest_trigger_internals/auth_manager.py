"""FAB's auth manager, with triggering a DAG separated from editing it (``[core] auth_manager =
rest_trigger_internals.auth_manager.RestTriggerAuthManager``).

Depends on: FabAuthManager's private methods ``_is_authorized_dag``, ``_is_authorized`` and
``_get_root_dag_id`` (FAB provider 1.5.4 on 2.11, 3.x on Airflow 3), the public
``is_authorized_dag`` calling them, and FAB's resource names "DAG Runs" / "DAG Run:<dag_id>".
Guarded by tests/plugins/internals/test_auth_manager.py, which fails when any of them moves.

FAB lets a role create a run of a DAG only if it may also *edit* that DAG, and edit on a DAG is
what pausing, unpausing and re-parsing it need. A caller that must trigger ``rest-trigger`` would
then also be able to pause it, leaving every later run queued. Here creating a run (POST
dagRuns, and the UI's trigger) needs read on the DAG and create on its runs
(``DAG Run:<dag_id>`` or ``DAG Runs``) instead; every other decision is FAB's, unchanged. The
stock roles are unaffected: those that may create runs (User, Op, Admin) may edit DAGs too.

Also: a DAG id that contains a dot and names no DAG is an unknown DAG (403 or 404), not a
server error. For such an id FAB (provider 1.5.4) looks up a sub-DAG's root in the database;
with no such DAG the lookup returns None, and every API request on that id, with or without
credentials, ended in ``AttributeError`` and an HTML 500. Found by tests/e2e/test_api_schema.py
(schemathesis, Airflow's own OpenAPI spec).

The same class serves Airflow 3 (FAB provider 3.x), where FAB still asks for edit on the DAG to
create a run (``is_authorized_dag``, scenario 3). Only the imports differ (the resource models
moved to ``airflow.api_fastapi``); 3.x has no sub-DAGs and FAB 3.x no root-DAG lookup, so the
override exists only where FAB has one.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager

from rest_trigger_etl.airflow_compat import DagAccessEntity, DagDetails, fab_permissions


class RestTriggerAuthManager(FabAuthManager):
    def is_authorized_dag(
        self,
        *,
        method: Any,
        access_entity: DagAccessEntity | None = None,
        details: DagDetails | None = None,
        user: Any = None,
    ) -> bool:
        if method == "POST" and access_entity == DagAccessEntity.RUN and details and details.id:
            return self._is_authorized_dag(
                method="GET", details=details, user=user
            ) and self._may_create_runs(details.id, user)
        return super().is_authorized_dag(
            method=method, access_entity=access_entity, details=details, user=user
        )

    def _may_create_runs(self, dag_id: str, user: Any) -> bool:
        # Create on every DAG's runs, or on this DAG's ("DAG Run:<dag_id>").
        p = fab_permissions
        return any(
            self._is_authorized(method="POST", resource_type=resource, user=user)
            for resource in (p.RESOURCE_DAG_RUN, p.resource_name(dag_id, p.RESOURCE_DAG_RUN))
        )

    if hasattr(FabAuthManager, "_get_root_dag_id"):  # FAB 1.5.4 (2.11); 3.x has no sub-DAGs

        def _get_root_dag_id(self, dag_id: str) -> str:
            # No row: not a sub-DAG of anything; its permissions are its own (it may have none).
            return super()._get_root_dag_id(dag_id) or dag_id
