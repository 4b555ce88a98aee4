"""The client's fixtures against Airflow 3: ``airflow3_server``, one real Airflow 3.3 per session
(tests/client/airflow3.py), for the tests marked ``airflow3``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.airflow3 import Airflow3Server, airflow3_venv, running_airflow3


@pytest.fixture(scope="session")
def airflow3_server() -> Iterator[Airflow3Server]:
    """A real Airflow 3.3 (api-server, scheduler, dag-processor) with the project's DAG and the
    local warehouse, on free ports; ``.base_url``, ``.admin`` and ``.caller`` (user, password)."""
    venv = airflow3_venv()
    if venv is None:
        pytest.skip(
            "no Airflow 3 venv: build .venv-airflow3 from requirements-airflow3.lock "
            "(README/docs/client.md) or set AIRFLOW3_VENV"
        )
    with running_airflow3(venv) as server:
        yield server
