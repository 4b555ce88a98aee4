"""bench/cpu.py's kinds of process, from the titles each Airflow version gives them."""

from __future__ import annotations

import pytest

from bench.cpu import _category

WEBSERVER = "webserver (REST API)"
API_SERVER = "api-server (REST API, task execution API)"


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("gunicorn: master [airflow-webserver]", WEBSERVER),  # 2.11: gunicorn too
        ("[ready 2] gunicorn: worker [airflow-webserver]", WEBSERVER),
        ("gunicorn: master [gunicorn]", API_SERVER),  # 3.x under gunicorn
        ("gunicorn: worker [gunicorn]", API_SERVER),
        ("airflow api_server -- host:127.0.0.1", API_SERVER),  # 3.x under uvicorn
        ("/venv/bin/python /venv/bin/airflow api-server", API_SERVER),  # before its title
        (
            "airflow worker -- LocalExecutor: <idle>",
            "task processes (LocalExecutor workers and the tasks they fork)",
        ),
        ("/venv/bin/python -m airflow scheduler", "scheduler loop"),
    ],
)
def test_each_title_is_counted_as_its_kind(title: str, kind: str) -> None:
    assert _category(title) == kind
