"""The Airflow connection the DAG reads the stand-in through, in Airflow's JSON connection form
(``AIRFLOW_CONN_REDSHIFT_DEFAULT``): the one definition the local stack, the tests and the
compose file's default (checked equal by tests/compose/test_compose_files.py) share."""

from __future__ import annotations

import json
from typing import Any

from rest_trigger_etl.names import WAREHOUSE_CONN_ID

ENV_VAR = f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"


def connection(host: str, port: int, database: str, login: str, password: str) -> dict[str, Any]:
    return {
        "conn_type": "redshift",
        "host": host,
        "port": port,
        "schema": database,
        "login": login,
        "password": password,
        # The stand-in speaks no TLS; a real cluster keeps the driver's ssl=True.
        # application_name: without one, redshift_connector.connect() names the caller by
        # walking inspect.stack() (reads the source of every frame: ~30-60 ms per connect inside
        # an Airflow task). Set it on a real connection too.
        "extra": {"ssl": False, "application_name": "rest-trigger"},
    }


def connection_json(host: str, port: int, database: str, login: str, password: str) -> str:
    return json.dumps(connection(host, port, database, login, password))
