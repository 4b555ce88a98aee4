"""The Airflow 3 variant (docker-compose.airflow3.yaml) in real containers, after the 2.11 stack
of tests/compose/test_compose_stack.py is down (`make test-compose` runs this module second).

On a fresh copy of the project with no .env, under its own compose project name and on free
ports (never a developer's 8080/5439): `docker compose -f docker-compose.yaml -f
docker-compose.airflow3.yaml up -d --wait`, then only through 127.0.0.1: a JWT for the caller
account from POST /auth/token, the documented trigger on /api/v2 to success with the total the
test counts itself, 409 on the same run id, 422 on a conf that is not an object, 400 on a bad
date, the caller refused pausing; the hardening; `down -v` leaving nothing. Images: the official
ones where a registry answers, else the stand-ins (`docker/offline/build.sh --airflow3`).

A little over 250 lines because its tests share one module-scoped stack (building the images and
starting it take minutes) and run in file order against it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests

from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL
from rest_trigger_local.ports import free_port
from tests.support.compose_reads import copy_project, expected_total
from tests.support.compose_stack import (
    OFFLINE_BUILD,
    PROJECT_DIR,
    ComposeProject,
    clean_env,
    engine_status,
    remove_stale_test_projects,
    resolve_images,
    run,
)

ready, why_not = engine_status()
pytestmark = [
    pytest.mark.compose,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(not ready, reason=f"no Docker engine with Compose v2: {why_not}"),
]

FILES = ("-f", "docker-compose.yaml", "-f", "docker-compose.airflow3.yaml")
CONF = DEMO_CONF
SERVICES = {
    "postgres", "warehouse-db", "warehouse", "airflow-apiserver", "airflow-scheduler",
    "airflow-dag-processor",
}  # fmt: skip
INIT_CAPS = {"CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"}


def airflow3_base_image(env: dict[str, str]) -> tuple[str, str]:
    """AIRFLOW3_BASE_IMAGE: the official image where it is here or can be pulled, else the
    stand-in (built now if missing or out of date). Returns it and a line saying which."""
    text = (PROJECT_DIR / "docker-compose.airflow3.yaml").read_text()
    official = text.split("${AIRFLOW3_BASE_IMAGE:-", 1)[1].split("}", 1)[0]
    if run(["docker", "image", "inspect", official], PROJECT_DIR, env, check=False).returncode == 0:
        return official, f"{official} (official)"
    if run(["docker", "pull", "-q", official], PROJECT_DIR, env, 300, check=False).returncode == 0:
        return official, f"{official} (official, pulled)"
    start = time.monotonic()
    built = run([str(OFFLINE_BUILD), "--airflow3", "--env"], PROJECT_DIR, env, timeout=1800)
    image = dict(line.split("=", 1) for line in built.stdout.split())["AIRFLOW3_BASE_IMAGE"]
    return image, f"{image} (local stand-in, ready in {time.monotonic() - start:.0f} s)"


class Api3:
    """Airflow 3's REST API as a caller sees it: a JWT from POST /auth/token, then /api/v2."""

    def __init__(self, base_url: str, user: str, password: str) -> None:
        self.base_url = base_url
        self.post_to_success: list[float] = []
        token = requests.post(
            f"{base_url}/auth/token", json={"username": user, "password": password}, timeout=60
        )
        assert token.status_code in (200, 201), token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base_url}/api/v2{path}", headers=self.headers, timeout=60)

    def trigger(self, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.base_url}/api/v2/dags/{DAG_ID}/dagRuns", json=body, headers=self.headers,
            timeout=60,
        )  # fmt: skip

    def run_to_end(self, run_id: str, conf: dict[str, Any], timeout: float = 600) -> str:
        started = time.monotonic()
        answer = self.trigger({"dag_run_id": run_id, "logical_date": None, "conf": conf})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["state"], answer.json()["conf"]) == ("queued", conf)
        deadline = started + timeout
        while time.monotonic() < deadline:
            state = self.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
            if state in ("success", "failed"):
                self.post_to_success.append(time.monotonic() - started)
                return state
            time.sleep(0.25)
        raise AssertionError(f"{run_id} still not finished after {timeout} s")

    def xcom(self, run_id: str, task_id: str) -> Any:
        path = (
            f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
            "?deserialize=true&stringify=false"
        )
        answer = self.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()["value"]


@pytest.fixture(scope="module")
def project() -> Iterator[ComposeProject]:
    env = clean_env()
    for name in remove_stale_test_projects(env):
        print(f"\n  took down {name}, left running by an earlier compose test that was killed")
    workdir = Path(tempfile.mkdtemp(prefix="rest-trigger-compose-"))
    (workdir / "owner.pid").write_text(str(os.getpid()))
    directory = workdir / f"rest-trigger-af3-{workdir.name.rsplit('-', 1)[-1].lower()}"
    directory.mkdir()
    copy_project(directory)
    images, notes = resolve_images(env)
    env.update(images)
    env["AIRFLOW3_BASE_IMAGE"], note = airflow3_base_image(env)
    notes.append(f"AIRFLOW3_BASE_IMAGE: {note}")
    if subprocess.run(["docker", "network", "inspect", "bridge"], capture_output=True).returncode:
        env["DOCKER_BUILD_NETWORK"] = "host"
    # Never a developer's stack's ports: free ones, whatever 8080 and 5439 are doing.
    env["AIRFLOW_PORT"], env["WAREHOUSE_PORT"] = str(free_port()), str(free_port())
    compose = ComposeProject(directory, env)
    print(f"\nAirflow 3 compose project {compose.name} in {directory}")
    for line in notes:
        print(f"  image {line}")
    try:
        yield compose
    finally:
        compose.compose(*FILES, "--profile", "celery", "--profile", "flower", "down", "-v",
                        "--remove-orphans", "--timeout", "30", check=False)  # fmt: skip
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def api(project: ComposeProject) -> Api3:
    """docs/docker.md's Airflow 3 command, on a fresh copy with no .env."""
    assert not (project.directory / ".env").exists()
    # The commands docs/docker.md gives (its ```sh blocks, which the 2.11 test does not run).
    text = (PROJECT_DIR / "docs" / "docker.md").read_text()
    documented = " ".join(["docker", "compose", *FILES])
    assert f"{documented} up -d --wait\n" in text and f"{documented} down\n" in text
    started = time.monotonic()
    up = project.compose(*FILES, "up", "-d", "--wait", "--wait-timeout", "900", timeout=1800,
                         check=False)  # fmt: skip
    project.timings["up"] = time.monotonic() - started
    assert up.returncode == 0, up.stderr[-4000:] + project.logs()
    print(
        f"\n  Airflow 3 variant: up -d --wait (build, init, healthy): {project.timings['up']:.1f} s"
    )
    return Api3(f"http://127.0.0.1:{project.env['AIRFLOW_PORT']}", "caller", "caller")


def inspect_all(project: ComposeProject) -> list[dict[str, Any]]:
    ids = project.compose(*FILES, "ps", "-a", "-q").stdout.split()
    return json.loads(run(["docker", "inspect", *ids], project.directory, project.env).stdout)


def test_airflow3_services_healthy_hardened_and_on_loopback_only(
    project: ComposeProject, api: Api3
) -> None:
    published = set()
    running = set()
    for container in inspect_all(project):
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        host = container["HostConfig"]
        assert "no-new-privileges:true" in (host["SecurityOpt"] or []), service
        assert [c.upper() for c in host["CapDrop"] or []] in (["ALL"], ["CAP_ALL"]), service
        added = {c if c.startswith("CAP_") else f"CAP_{c}" for c in host["CapAdd"] or []}
        assert added == (INIT_CAPS if service == "airflow-init" else set()), service
        for port, bindings in (host["PortBindings"] or {}).items():
            published |= {(service, port, b["HostIp"]) for b in bindings}
        if not container["State"]["Running"]:
            assert (service, container["State"]["ExitCode"]) == ("airflow-init", 0)
            continue
        running.add(service)
        assert container["State"]["Health"]["Status"] == "healthy", service
        status = run(["docker", "exec", container["Id"], "cat", "/proc/1/status"],
                     PROJECT_DIR, project.env).stdout  # fmt: skip
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        assert int(fields["CapEff"].strip(), 16) == 0, service
        assert fields["NoNewPrivs"].strip() == "1", service
        assert fields["Uid"].split()[1] != "0", service
    assert running == SERVICES
    assert published == {
        ("airflow-apiserver", "8080/tcp", "127.0.0.1"), ("warehouse", "5439/tcp", "127.0.0.1"),
    }  # fmt: skip
    health = requests.get(f"{api.base_url}/api/v2/monitor/health", timeout=30)
    assert health.status_code == 200, health.text
    assert health.json()["metadatabase"]["status"] == "healthy"


def test_airflow3_trigger_as_the_caller_succeeds_with_the_warehouse_total(
    project: ComposeProject, api: Api3
) -> None:
    assert requests.get(f"{api.base_url}/api/v2/dags", timeout=30).status_code == 401
    dags = api.get("/dags").json()["dags"]
    assert [(d["dag_id"], d["is_paused"]) for d in dags] == [(DAG_ID, False)]
    assert api.run_to_end("demo-1", CONF) == "success"
    total = expected_total(project, CONF)
    assert total > 0
    assert api.xcom("demo-1", MAIN_ETL) == {"dag_run_id": "demo-1", **CONF, "total": total}
    port = int(project.env["WAREHOUSE_PORT"])
    with psycopg2.connect(host="127.0.0.1", port=port, dbname="dev", user="warehouse",
                          password="warehouse") as conn, conn.cursor() as cur:  # fmt: skip
        cur.execute("SELECT total FROM rest_trigger_results WHERE dag_run_id = 'demo-1'")
        assert cur.fetchall() == [(total,)]
    print(f"\n  Airflow 3: POST -> success {api.post_to_success[-1]:.2f} s")


def test_airflow3_reused_id_409_bad_conf_422_bad_date_400(api: Api3) -> None:
    again = api.trigger({"dag_run_id": "demo-1", "logical_date": None, "conf": CONF})
    assert again.status_code == 409, again.text
    not_an_object = api.trigger({"dag_run_id": "bad-1", "logical_date": None, "conf": "gid=42"})
    assert not_an_object.status_code == 422, not_an_object.text
    bad_date = {**CONF, "date_start": "2024-13-45"}
    bad = api.trigger({"dag_run_id": "bad-2", "logical_date": None, "conf": bad_date})
    assert bad.status_code == 400, bad.text
    assert "is not a 'date'" in bad.json()["detail"]
    for run_id in ("bad-1", "bad-2"):
        assert api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").status_code == 404, run_id


def test_airflow3_caller_may_not_pause(api: Api3) -> None:
    pause = requests.patch(
        f"{api.base_url}/api/v2/dags/{DAG_ID}", json={"is_paused": True}, headers=api.headers,
        timeout=30,
    )  # fmt: skip
    assert pause.status_code == 403, pause.text
    assert api.get(f"/dags/{DAG_ID}").json()["is_paused"] is False


def test_airflow3_down_leaves_nothing(project: ComposeProject) -> None:
    started = time.monotonic()
    project.compose(*FILES, "down", "-v", "--timeout", "30")
    print(f"\n  Airflow 3: down -v in {time.monotonic() - started:.1f} s")
    assert project.resources() == {"containers": [], "volumes": [], "networks": []}
