"""The project's one Airflow plugin: registers the optional pieces whose switch is on
(rest_trigger_api/switches.py) and that the running Airflow needs. With every switch off it
registers nothing, and the DAG does not need it.

| switch | Airflow 2.11 (Flask webserver) | Airflow 3 (FastAPI api-server) |
| --- | --- | --- |
| ``request_body_limit`` | blueprint: int MAX_CONTENT_LENGTH, 413 problem | ASGI root middleware |
| ``login_throttle`` | (in the auth backend, cached_basic_auth) | root middleware: /auth/token |
| ``error_mappings`` | blueprints: 400s, a lost trigger race retried, 500 problem | (3.x answers) |
| ``preload`` | imports in the scheduler (LocalExecutor) | the same |
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from rest_trigger_api.switches import enabled

from rest_trigger_etl.airflow_compat import is_airflow_2


def _flask_blueprints() -> list[Any]:
    blueprints: list[Any] = []
    if not is_airflow_2():
        return blueprints
    if enabled("request_body_limit"):
        from rest_trigger_api.request_size_limit import flask_blueprint

        blueprints.append(flask_blueprint())
    if enabled("error_mappings"):
        from rest_trigger_internals import (
            api_client_errors,
            api_server_errors,
            dag_fields,
            run_id_errors,
            trigger_race,
        )

        blueprints += [
            trigger_race.blueprint,
            dag_fields.blueprint,
            run_id_errors.blueprint,
            api_client_errors.blueprint,
            api_server_errors.blueprint,
        ]
    return blueprints


def _fastapi_root_middlewares() -> list[dict[str, Any]]:
    """In order from the innermost: Airflow adds each one outside those before it, so the body
    limit, last, refuses a huge body before the token guard buffers it."""
    middlewares: list[dict[str, Any]] = []
    if is_airflow_2():
        return middlewares
    if enabled("login_throttle"):
        from rest_trigger_api import token_guard

        middlewares.append(token_guard.ASGI_MIDDLEWARE)
    if enabled("request_body_limit"):
        from rest_trigger_api import request_size_limit

        middlewares.append(request_size_limit.ASGI_MIDDLEWARE)
    return middlewares


class RestTriggerPlugin(AirflowPlugin):
    name = "rest_trigger"
    flask_blueprints = _flask_blueprints()
    fastapi_root_middlewares = _fastapi_root_middlewares()


if enabled("preload"):
    from rest_trigger_internals import preload

    preload.run()
