"""The Airflow 3 variant (docker-compose.airflow3.yaml) in real containers, after the 2.11 stack
of tests/compose/test_compose_stack.py is down (`make test-compose` runs this module second),
proving what that module proves for 2.11.

On a fresh copy of the project with no .env, under its own compose project name and on free
ports (never a developer's 8080/5439/5555): `docker compose -f docker-compose.yaml -f
docker-compose.airflow3.yaml up -d --wait`, then only through 127.0.0.1: a JWT for the caller
account from POST /auth/token, the documented trigger on /api/v2 to success with the total the
test counts itself, 409 on the same run id, 422 on a conf that is not an object, 400 on a bad
date, the caller refused pausing; the hardening; the UI's login (FAB's page at /auth/login/) as
the admin; `down` then `up` keeping the runs; the celery profile with two workers, each running
tasks (through the task SDK and the api-server's execution API); Flower behind its login;
`down -v` leaving nothing. Images: the official ones where a registry answers, else the
stand-ins (`docker/offline/build.sh --airflow3`).

Over 250 lines because its tests share one module-scoped stack (building the images and
starting it take minutes) and run in file order against it: they stay in one module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
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
    compose_marks,
    remove_stale_test_projects,
    resolve_images,
    run,
)

pytestmark = compose_marks()

FILES = ("-f", "docker-compose.yaml", "-f", "docker-compose.airflow3.yaml")
CONF = DEMO_CONF
SERVICES = {
    "postgres", "warehouse-db", "warehouse", "airflow-apiserver", "airflow-scheduler",
    "airflow-dag-processor",
}  # fmt: skip
INIT_CAPS = {"CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"}
WAIT = ("up", "-d", "--wait", "--wait-timeout", "900")
CELERY = ("--profile", "celery", "--profile", "flower")
WORKERS = 2
SCALE = ("--scale", f"airflow-worker={WORKERS}")
# Runs until both workers have run a task (each run has two tasks; Celery picks the worker),
# and at least three, so the printed POST -> success times are more than one sample.
MIN_CELERY_RUNS, MAX_CELERY_RUNS = 3, 8


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
    # Never a developer's stack's ports: free ones, whatever 8080, 5439 and 5555 are doing.
    for name in ("AIRFLOW_PORT", "WAREHOUSE_PORT", "FLOWER_PORT"):
        env[name] = str(free_port())
    # For what ComposeProject runs without the two -f (logs() on a failure, containers()): the
    # variant's services, the api-server's and the dag-processor's logs too.
    env["COMPOSE_FILE"] = ":".join(FILES[1::2])
    compose = ComposeProject(directory, env)
    print(f"\nAirflow 3 compose project {compose.name} in {directory}")
    for line in notes:
        print(f"  image {line}")
    try:
        yield compose
    finally:
        compose.compose(*FILES, *CELERY, "down", "-v", "--remove-orphans", "--timeout", "30",
                        check=False)  # fmt: skip
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
    up = project.compose(*FILES, *WAIT, timeout=1800, check=False)
    project.timings["up"] = time.monotonic() - started
    assert up.returncode == 0, up.stderr[-4000:] + project.logs()
    print(
        f"\n  Airflow 3 variant: up -d --wait (build, init, healthy): {project.timings['up']:.1f} s"
    )
    return Api3(f"http://127.0.0.1:{project.env['AIRFLOW_PORT']}", "caller", "caller")


def inspect_all(project: ComposeProject) -> list[dict[str, Any]]:
    ids = project.compose(*FILES, "ps", "-a", "-q").stdout.split()
    return json.loads(run(["docker", "inspect", *ids], project.directory, project.env).stdout)


def hardened_containers(project: ComposeProject) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Every container of the project checked as the 2.11 test checks its own (docker inspect:
    no-new-privileges, every capability dropped, airflow-init's three added back; the kernel's
    view of each running main process: no capability, no_new_privs, not root; healthy). Returns
    the running services and what is published (service, port, host address)."""
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
    return running, published


def test_airflow3_services_healthy_hardened_and_on_loopback_only(
    project: ComposeProject, api: Api3
) -> None:
    running, published = hardened_containers(project)
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


def test_airflow3_ui_login_as_admin(api: Api3) -> None:
    """Airflow 3's UI is a React app at / that calls /api/v2 with the `_token` cookie FAB's login
    page (/auth/login/) sets: the form, with its CSRF token as 2.11's, takes the admin's password
    (and that cookie then opens the API) and refuses a wrong one (no cookie, 401)."""
    page = requests.get(f"{api.base_url}/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")

    def log_in(password: str) -> tuple[requests.Session, requests.Response]:
        session = requests.Session()
        form = session.get(f"{api.base_url}/auth/login/", timeout=30)
        assert form.status_code == 200, form.text[:2000]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text)
        assert token, form.text[:2000]
        # Not followed: this answer sets the cookie; where it leads (FAB's index, which
        # redirects to [api] base_url) may name the default port, not this test's.
        answer = session.post(
            f"{api.base_url}/auth/login/",
            data={"csrf_token": token[1], "username": "admin", "password": password},
            allow_redirects=False, timeout=60,
        )  # fmt: skip
        return session, answer

    admin, answer = log_in("admin")
    assert answer.status_code == 302 and "/auth/login" not in answer.headers["location"]
    assert admin.cookies.get("_token"), answer.headers
    dags = admin.get(f"{api.base_url}/api/v2/dags", timeout=60)
    assert dags.status_code == 200, dags.text
    assert [d["dag_id"] for d in dags.json()["dags"]] == [DAG_ID]
    wrong, answer = log_in("not-the-password")
    assert answer.status_code in (200, 302) and not wrong.cookies.get("_token")
    assert wrong.get(f"{api.base_url}/api/v2/dags", timeout=60).status_code == 401


def test_airflow3_down_then_up_keeps_the_runs(project: ComposeProject, api: Api3) -> None:
    """`down` (no -v) keeps the volumes: after `up`, demo-1 is still listed as a success with its
    total; the caller's token from before still works (the JWT secret in the volume is kept)."""
    project.compose(*FILES, "down", "--timeout", "30")
    assert project.resources()["containers"] == []
    started = time.monotonic()
    up = project.compose(*FILES, *WAIT, timeout=1800, check=False)
    assert up.returncode == 0, up.stderr[-4000:] + project.logs()
    print(
        f"\n  Airflow 3: second up (volumes kept): healthy after {time.monotonic() - started:.1f} s"
    )
    listed = api.get(f"/dags/{DAG_ID}/dagRuns").json()["dag_runs"]
    assert [(r["dag_run_id"], r["state"]) for r in listed] == [("demo-1", "success")]
    assert api.xcom("demo-1", MAIN_ETL)["total"] == expected_total(project, CONF)


def test_airflow3_celery_profile_runs_tasks_on_two_workers(
    project: ComposeProject, api: Api3
) -> None:
    """docs/docker.md's Airflow 3 scale-out: CeleryExecutor in .env, the celery and flower
    profiles, two workers. Task processes on a worker reach the api-server's execution API by
    its service name ([core] execution_api_server_url); each worker runs tasks (the task
    instances' hostname over /api/v2 is its container's); every container hardened, and only
    127.0.0.1 published."""
    refused = project.compose(*FILES, "--profile", "celery", "run", "--rm", "--no-deps",
                              "airflow-worker", check=False)  # fmt: skip
    assert refused.returncode == 1
    assert "set AIRFLOW__CORE__EXECUTOR=CeleryExecutor in .env" in refused.stderr
    text = (PROJECT_DIR / "docs" / "docker.md").read_text()
    documented = " ".join(["docker", "compose", *FILES, *CELERY, "up -d --wait", *SCALE])
    assert documented in text, documented
    (project.directory / ".env").write_text("AIRFLOW__CORE__EXECUTOR=CeleryExecutor\n")
    started = time.monotonic()
    up = project.compose(*FILES, *CELERY, *WAIT, *SCALE, timeout=1800, check=False)
    assert up.returncode == 0, up.stderr[-4000:] + project.logs()
    print(
        f"\n  Airflow 3 celery profile, 2 workers: healthy after {time.monotonic() - started:.1f} s"
    )
    running, published = hardened_containers(project)
    assert running == SERVICES | {"redis", "airflow-worker", "flower"}
    assert published == {
        ("airflow-apiserver", "8080/tcp", "127.0.0.1"), ("warehouse", "5439/tcp", "127.0.0.1"),
        ("flower", "5555/tcp", "127.0.0.1"),
    }  # fmt: skip
    workers = {c["Config"]["Hostname"] for c in project.containers("airflow-worker")}
    assert len(workers) == WORKERS
    before = len(api.post_to_success)
    seen: set[str] = set()
    runs = 0
    while (seen != workers or runs < MIN_CELERY_RUNS) and runs < MAX_CELERY_RUNS:
        runs += 1
        run_id, conf = f"celery-{runs}", {**CONF, "gid": runs}
        try:
            state = api.run_to_end(run_id, conf, timeout=420)
        except AssertionError as stuck:
            raise AssertionError(f"{stuck}\n{project.logs()}") from None
        assert state == "success", project.logs()
        assert api.xcom(run_id, MAIN_ETL)["total"] == expected_total(project, conf)
        instances = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()
        hosts = {ti["hostname"] for ti in instances["task_instances"]}
        assert hosts <= workers, (hosts, workers)  # on a worker, never the scheduler
        seen |= hosts
    timed = api.post_to_success[before:]
    print(f"  {runs} celery runs; task hosts {sorted(seen)}, workers {sorted(workers)}")
    print(f"  Airflow 3 POST -> success on the Celery workers: median "
          f"{statistics.median(timed):.2f} s ({', '.join(f'{t:.2f}' for t in timed)})")  # fmt: skip
    assert seen == workers


def test_airflow3_flower_behind_its_login(project: ComposeProject) -> None:
    """Flower wants its login: 401 without or with a wrong one, 200 with the generated one read
    from the secrets volume (as docs/docker.md says to read it)."""
    flower = f"http://127.0.0.1:{project.env['FLOWER_PORT']}/"
    assert requests.get(flower, timeout=30).status_code == 401
    assert requests.get(flower, auth=("flower", "wrong"), timeout=30).status_code == 401
    login = project.compose(*FILES, "exec", "-T", "flower", "cat",
                            "/opt/airflow/secrets/flower_basic_auth").stdout.strip()  # fmt: skip
    user, password = login.split(":", 1)
    assert requests.get(flower, auth=(user, password), timeout=30).status_code == 200


def test_airflow3_down_leaves_nothing(project: ComposeProject) -> None:
    """`down -v` for the profiles started: containers, volumes (the secrets too), network."""
    started = time.monotonic()
    project.compose(*FILES, *CELERY, "down", "-v", "--timeout", "30")
    print(f"\n  Airflow 3: down -v in {time.monotonic() - started:.1f} s")
    assert project.resources() == {"containers": [], "volumes": [], "networks": []}
