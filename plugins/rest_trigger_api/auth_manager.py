"""Airflow's FAB auth manager, with a DAG id that contains a dot and names no DAG treated as
what it is (an unknown DAG: 403 or 404), not as a server error.

For a dag_id with a "." the FAB provider (1.5.4) looks up a sub-DAG's root in the database;
when there is no such DAG the lookup returns None, and every API request on that id, with or
without credentials, ends in ``AttributeError`` and an HTML 500. Found by
tests/test_api_schema.py (schemathesis, Airflow's own OpenAPI spec).
"""

from __future__ import annotations

from airflow.providers.fab.auth_manager.fab_auth_manager import (
    FabAuthManager as AirflowFabAuthManager,
)


class FabAuthManager(AirflowFabAuthManager):
    def _get_root_dag_id(self, dag_id: str) -> str:
        # No row: not a sub-DAG of anything; its permissions are its own (and it has none).
        return super()._get_root_dag_id(dag_id) or dag_id
