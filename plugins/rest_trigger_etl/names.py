"""The names the DAG and everything that calls it share: the DAG id, its task ids, the XCom key
``pusher`` hands ``gid`` over with, and a demo conf.

Plain constants and nothing else, imported by the DAG (Airflow puts ``plugins/`` on
``sys.path``), by the trigger client (``pyproject.toml`` installs ``rest_trigger_etl`` with it),
and by the bench and the tests. The conf's parameters are ``run_conf.PARAM_SPECS``.
Callers spell these names in URLs and scripts: renaming one is a breaking change for them
(``tests/dags/test_dag_integrity.py`` pins them).
"""

from __future__ import annotations

DAG_ID = "rest-trigger"
PUSHER = "pusher"  # checks the run, pushes gid to XCom
MAIN_ETL = "main_etl"  # counts, loads, returns the summary (its return_value XCom)
TASK_IDS = (PUSHER, MAIN_ETL)  # in the DAG's order: pusher >> main_etl
GLOBAL_ID_KEY = "global_id"  # the XCom key of pusher's hand-over (the article's)
# The Airflow connection main_etl reads the warehouse through (RedshiftSQLHook's default id).
WAREHOUSE_CONN_ID = "redshift_default"

# The demo data's usual question: one global id, one site, one quarter (the README's example).
# Shared by every importer: copy it (``dict(DEMO_CONF)``) before changing a value.
DEMO_CONF = {"gid": 42, "sid": 7, "date_start": "2024-01-01", "date_end": "2024-03-31"}
