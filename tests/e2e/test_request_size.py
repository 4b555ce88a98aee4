"""Request bodies over the project's limit (64 KiB, the request_body_limit switch) get 413
with a JSON problem, with or without credentials, on the API and the UI alike; never Airflow
2.11's 500."""

from __future__ import annotations

import json

import pytest
import requests
from rest_trigger_api.request_size_limit import MAX_BODY_BYTES as LIMIT

from rest_trigger_etl.names import DAG_ID, DEMO_CONF
from rest_trigger_local.settings import PROJECT_DIR

RUNS = f"/dags/{DAG_ID}/dagRuns"
CONF = DEMO_CONF


def padded_trigger(run_id: str, size: int) -> bytes:
    """A valid trigger body of exactly ``size`` bytes (JSON allows trailing whitespace)."""
    body = json.dumps({"dag_run_id": run_id, "conf": CONF}).encode()
    return body + b" " * (size - len(body))


def test_make_run_and_the_compose_stack_use_the_one_webserver_config() -> None:
    import configparser

    import yaml

    project = PROJECT_DIR
    cfg = configparser.RawConfigParser()
    cfg.read(project / "airflow.cfg")
    assert cfg["webserver"]["config_file"] == "${REST_TRIGGER_HOME}/webserver_config.py"
    # YAML merge keys (<<) resolve the compose file's anchors.
    services = yaml.safe_load((project / "docker-compose.yaml").read_text())["services"]
    mount = "./webserver_config.py:/opt/airflow/webserver_config.py:ro"
    assert mount in services["airflow-webserver"]["volumes"]


# 983,041 to 1,048,575 bytes were Airflow's 500s; the others bracket the limits.
@pytest.mark.e2e
@pytest.mark.parametrize("size", [LIMIT + 1, 983_041, 1_000_000, 1_048_575, 1_048_577, 5_000_000])
@pytest.mark.parametrize("auth", [("admin", "admin"), None], ids=["login", "no-login"])
def test_oversized_body_is_413_problem_and_creates_nothing(airflow_stack, size, auth) -> None:
    run_id = f"size-{size}-{'login' if auth else 'anonymous'}"
    response = requests.post(
        f"{airflow_stack.api}{RUNS}",
        data=padded_trigger(run_id, size),
        auth=auth,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413, response.text[:300]
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413
    assert problem["title"] == "Request Entity Too Large"
    assert str(LIMIT) in problem["detail"]
    assert airflow_stack.get(f"{RUNS}/{run_id}").status_code == 404


@pytest.mark.e2e
def test_a_body_of_exactly_the_limit_is_accepted(airflow_stack) -> None:
    response = requests.post(
        f"{airflow_stack.api}{RUNS}",
        data=padded_trigger("size-at-limit", LIMIT),
        auth=airflow_stack.auth,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:300]
    assert airflow_stack.wait_for_run("size-at-limit")["state"] == "success"


@pytest.mark.e2e
def test_the_ui_login_form_has_the_same_limit(airflow_stack) -> None:
    response = requests.post(
        f"{airflow_stack.base_url}/login/", data={"username": "a" * LIMIT}, timeout=60
    )
    assert response.status_code == 413
    assert response.json()["status"] == 413
