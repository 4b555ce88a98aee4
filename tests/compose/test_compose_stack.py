"""`docker compose up` in real containers: docs/docker.md's steps as written, on a fresh copy of
the project, then the article's flow only through the ports compose publishes on 127.0.0.1.

The tests run in file order against one stack (a module fixture): the default stack, a restart
that keeps the runs, the celery profile with two workers, and the documented stop. Run them with
`make test-compose` (it starts a Docker engine as root on Debian/Ubuntu when none answers, and
stops what it started). Without an engine they are skipped, with the reason.

Images: the official ones where a registry answers; else the local stand-ins of docker/offline/
(the fixture prints which ran). Issue 10's compose promises are proven here against the same
stack: no .env (secrets generated into a volume, 0600, never on a command line), the hardening
(no-new-privileges, no capability, non-root), the caller account's least privilege, Redis's
password, Flower's basic auth, the log server unpublished.

Over 250 lines because every test shares that one module-scoped stack (building the images and
starting it takes minutes) and they run in file order against it: they stay in one module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from cryptography.fernet import Fernet

from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL
from rest_trigger_local.ports import free_port, port_is_free
from tests.support.compose_reads import copy_project, expected_total, warehouse
from tests.support.compose_stack import (
    PROJECT_DIR,
    Api,
    ComposeProject,
    clean_env,
    compose_marks,
    remove_stale_test_projects,
    resolve_images,
    run,
)

pytestmark = compose_marks()

# The documented example (README, docs/docker.md).
CONF = DEMO_CONF
WAIT = ("up", "-d", "--wait", "--wait-timeout", "600")
WORKERS = 2
MAX_CELERY_RUNS = 12
SECRETS_DIR = "/opt/airflow/secrets"
SECRET_FILES = (
    "fernet_key", "webserver_secret_key", "redis_password", "redis.conf", "broker_url",
    "flower_basic_auth", "jwt_secret",
)  # fmt: skip
# airflow-init's only capabilities (handing the volumes to AIRFLOW_UID, then dropping root).
INIT_CAPS = {"CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"}


def _holder(port: int) -> str:
    """Who listens on 127.0.0.1:port (or every address), for the test's report."""
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
            try:
                return " ".join(psutil.Process(conn.pid).cmdline()[:4]) if conn.pid else "?"
            except psutil.Error:
                return f"pid {conn.pid}"
    return "no listener seen"


def doc_blocks() -> list[str]:
    """docs/docker.md's ```bash blocks, as a user copies them."""
    text = (PROJECT_DIR / "docs" / "docker.md").read_text()
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def doc_command(pattern: str) -> str:
    (block,) = [b for b in doc_blocks() if re.search(pattern, b, flags=re.M)]
    return block


@pytest.fixture(scope="module")
def project() -> Iterator[ComposeProject]:
    env = clean_env()
    for name in remove_stale_test_projects(env):
        print(f"\n  took down {name}, left running by an earlier compose test that was killed")
    workdir = Path(tempfile.mkdtemp(prefix="rest-trigger-compose-"))
    (workdir / "owner.pid").write_text(str(os.getpid()))
    directory = workdir / f"rest-trigger-{workdir.name.rsplit('-', 1)[-1].lower()}"
    directory.mkdir()
    copy_project(directory)
    images, notes = resolve_images(env)
    env.update(images)
    # An engine started with --bridge=none has no default bridge for build steps to use.
    bridge = subprocess.run(["docker", "network", "inspect", "bridge"], capture_output=True)
    if bridge.returncode != 0:
        env["DOCKER_BUILD_NETWORK"] = "host"
    # The documented ports; any one taken on this machine is moved, as docs/docker.md tells a
    # user to, and the test says which and who holds it (a CI run once met 8080 taken).
    for name, port in (("AIRFLOW_PORT", 8080), ("WAREHOUSE_PORT", 5439), ("FLOWER_PORT", 5555)):
        if not port_is_free("127.0.0.1", port):
            env[name] = str(free_port())
            print(f"\n  port {port} is taken ({_holder(port)}): {name}={env[name]}")
    compose = ComposeProject(directory, env)
    print(f"\ncompose project {compose.name} in {directory}")
    for line in notes:
        print(f"  image {line}")
    overrides = {k: v for k, v in env.items() if k not in clean_env()}
    print(f"  environment beyond .env: {overrides}")
    try:
        yield compose
    finally:
        # Whatever a failed test left: every profile, volumes too.
        compose.compose(
            "--profile", "celery", "--profile", "flower", "--profile", "debug",
            "down", "-v", "--remove-orphans", "--timeout", "30", check=False,
        )  # fmt: skip
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def api(project: ComposeProject) -> Api:
    """docs/docker.md step 1, as written, on a fresh copy with no .env: `docker compose up`
    (detached, waiting for every healthcheck, bounded by --wait-timeout)."""
    assert not (project.directory / ".env").exists()
    up = doc_command(r"^docker compose up")
    assert "docker compose up -d --wait" in up, up
    started = time.monotonic()
    command = up.split("#")[0].strip() + " --wait-timeout 900"
    result = project.shell(command, timeout=1800, check=False)
    project.timings["up"] = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-4000:] + project.logs()
    up_time = project.timings["up"]
    print(f"\n  docker compose up -d --wait (no .env): all healthy after {up_time:.1f} s")
    port = project.setting("AIRFLOW_PORT", "8080")
    return Api(
        f"http://127.0.0.1:{port}",
        auth=(project.setting("AIRFLOW_CALLER_USER", "caller"),
              project.setting("AIRFLOW_CALLER_PASSWORD", "caller")),
        admin=(project.setting("AIRFLOW_ADMIN_USER", "admin"),
               project.setting("AIRFLOW_ADMIN_PASSWORD", "admin")),
    )  # fmt: skip


# -- the default stack -------------------------------------------------------------------------


def test_every_service_healthy_and_published_on_loopback_only(
    project: ComposeProject, api: Api
) -> None:
    services = project.compose("ps", "--format", "json").stdout
    states = [json.loads(line) for line in services.splitlines() if line.strip()]
    running = {s["Service"]: s for s in states}
    assert set(running) == {
        "postgres", "warehouse-db", "warehouse", "airflow-webserver", "airflow-scheduler",
        "airflow-triggerer",
    }, running.keys()  # fmt: skip
    for name, state in running.items():
        assert state["State"] == "running", (name, state)
        assert state["Health"] == "healthy", (name, state)
    published = {}
    for name in running:
        for container in project.containers(name):
            for port, bindings in (container["HostConfig"]["PortBindings"] or {}).items():
                for binding in bindings:
                    published[(name, port)] = binding["HostIp"]
    # Only the UI/API and the warehouse relay; never the scheduler's log server (8793) or a DB.
    assert {key for key in published} == {
        ("airflow-webserver", "8080/tcp"),
        ("warehouse", "5439/tcp"),
    }
    assert set(published.values()) == {"127.0.0.1"}


def test_dag_listed_and_not_paused(api: Api) -> None:
    assert requests.get(f"{api.base_url}/api/v1/dags", timeout=30).status_code == 403
    listed = api.get("/dags")
    assert listed.status_code == 200, listed.text
    assert [(d["dag_id"], d["is_paused"]) for d in listed.json()["dags"]] == [(DAG_ID, False)]


def test_documented_trigger_succeeds_with_the_warehouse_total(
    project: ComposeProject, api: Api
) -> None:
    """docs/docker.md step 2's three curl commands, as written (port 8080, the caller account)."""
    post, poll, result = (
        doc_command(r"-X POST"),
        doc_command(r"dagRuns/demo-1\n"),
        doc_command(r"xcomEntries"),
    )
    assert all("http://127.0.0.1:8080/" in command for command in (post, poll, result))
    # The documented port, unless the fixture had to move it (then the commands follow it).
    post, poll, result = (
        c.replace("http://127.0.0.1:8080/", f"{api.base_url}/") for c in (post, poll, result)
    )
    assert api.auth == ("caller", "caller") and "-u caller:caller" in post
    started = time.monotonic()
    answer = json.loads(project.shell(post).stdout)
    assert (answer["dag_run_id"], answer["state"], answer["conf"]) == ("demo-1", "queued", CONF)
    api.wait_for_run("demo-1", started)
    assert json.loads(project.shell(poll).stdout)["state"] == "success"
    value = json.loads(project.shell(result).stdout)["value"]
    total = expected_total(project, CONF)
    assert total > 0
    assert value == {"dag_run_id": "demo-1", **CONF, "total": total}
    # What the run wrote: its one row in the results table.
    with warehouse(project) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT gid, sid, total FROM rest_trigger_results WHERE dag_run_id = %s", ("demo-1",)
        )
        assert cur.fetchall() == [(CONF["gid"], CONF["sid"], total)]
    # docs/docker.md's psql command too (it asks for the password: `warehouse`).
    if shutil.which("psql"):
        psql = doc_command(r"^psql ").strip()
        port = project.env.get("WAREHOUSE_PORT")
        if port:
            psql = psql.replace("port=5439", f"port={port}")
        out = project.shell(f"PGPASSWORD=warehouse {psql}").stdout
        assert "demo-1" in out


def test_reused_run_id_is_409_and_bad_date_is_400_without_a_run(api: Api) -> None:
    again = api.trigger("demo-1", CONF)
    assert again.status_code == 409, again.text
    bad = api.trigger("bad-date-1", {**CONF, "date_start": "2024-13-45"})
    assert bad.status_code == 400, bad.text
    assert "is not a 'date'" in bad.json()["detail"]
    assert api.get(f"/dags/{DAG_ID}/dagRuns/bad-date-1").status_code == 404


def test_ui_login_page_and_login(api: Api) -> None:
    session = requests.Session()
    page = session.get(f"{api.base_url}/login/", timeout=30)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token, page.text[:2000]
    login = session.post(
        f"{api.base_url}/login/",
        data={"csrf_token": token[1], "username": api.admin[0], "password": api.admin[1]},
        timeout=30,
    )
    assert login.status_code == 200
    grid = session.get(f"{api.base_url}/dags/{DAG_ID}/grid", timeout=30)
    assert grid.status_code == 200 and "/login" not in grid.url, grid.url


# -- issue 10's compose promises ---------------------------------------------------------------


def inspect_all(project: ComposeProject) -> list[dict[str, Any]]:
    """Every container of the project, the exited airflow-init too."""
    ids = project.compose("ps", "-a", "-q").stdout.split()
    return json.loads(run(["docker", "inspect", *ids], project.directory, project.env).stdout)


def service_of(container: dict[str, Any]) -> str:
    return container["Config"]["Labels"]["com.docker.compose.service"]


def test_secrets_generated_owner_only_read_by_airflow_never_on_a_command_line(
    project: ComposeProject, api: Api
) -> None:
    """No .env: airflow-init generated the secrets into the volume, 0600 and AIRFLOW_UID's from
    creation; Airflow reads them (_CMD); no process of any container shows one, nor a password."""
    paths = [SECRETS_DIR, *(f"{SECRETS_DIR}/{name}" for name in SECRET_FILES)]
    stat = project.compose("exec", "-T", "airflow-webserver", "stat", "-c", "%a %u %g %n", *paths)
    modes = {line.split()[3]: tuple(line.split()[:3]) for line in stat.stdout.splitlines()}
    uid = project.setting("AIRFLOW_UID", "50000")
    assert modes == {
        SECRETS_DIR: ("750", uid, "0"),
        **{f"{SECRETS_DIR}/{name}": ("600", uid, "0") for name in SECRET_FILES},
    }
    for name in SECRET_FILES:
        read = project.compose("exec", "-T", "airflow-webserver", "cat", f"{SECRETS_DIR}/{name}")
        project.secrets[name] = read.stdout
    Fernet(project.secrets["fernet_key"].encode())  # a usable key
    # Airflow's own configuration, as each kind of service reads it, is the volume's (exit code
    # only: the values never reach this test's output).
    same = (
        "import sys; from airflow.configuration import conf; d = '/opt/airflow/secrets/';"
        " sys.exit(conf.get('core', 'fernet_key') != open(d + 'fernet_key').read()"
        " or conf.get('webserver', 'secret_key') != open(d + 'webserver_secret_key').read())"
    )
    for service in ("airflow-webserver", "airflow-scheduler"):
        project.compose("exec", "-T", service, "python", "-c", same)
    generated = [project.secrets[name] for name in SECRET_FILES if name != "redis.conf"]
    checked = 0
    for container in inspect_all(project):
        recorded = json.dumps([container["Config"]["Entrypoint"], container["Config"]["Cmd"]])
        assert "--password" not in recorded, service_of(container)
        if container["State"]["Running"]:
            top = run(["docker", "top", container["Id"], "-eo", "pid,args"], PROJECT_DIR,
                      project.env).stdout  # fmt: skip
            checked += len(top.splitlines()) - 1
            assert "--password" not in top, (service_of(container), top)
            for value in generated:
                assert value not in top, f"a generated secret in {service_of(container)}'s ps"
    print(f"\n  secrets: {len(SECRET_FILES)} files 0600, uid {uid}; {checked} process args clean")


def test_every_container_hardened(project: ComposeProject, api: Api) -> None:
    """docker inspect: no-new-privileges and every capability dropped (airflow-init adds back
    its three); and in each running container's main process, as the kernel sees it: no
    effective capability, no_new_privs set, not root."""
    for container in inspect_all(project):
        service, host = service_of(container), container["HostConfig"]
        assert "no-new-privileges:true" in (host["SecurityOpt"] or []), service
        assert [c.upper() for c in host["CapDrop"] or []] in (["ALL"], ["CAP_ALL"]), service
        added = {c if c.startswith("CAP_") else f"CAP_{c}" for c in host["CapAdd"] or []}
        assert added == (INIT_CAPS if service == "airflow-init" else set()), service
        if not container["State"]["Running"]:
            continue
        status = run(["docker", "exec", container["Id"], "cat", "/proc/1/status"], PROJECT_DIR,
                     project.env).stdout  # fmt: skip
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        assert int(fields["CapEff"].strip(), 16) == 0, service
        assert fields["NoNewPrivs"].strip() == "1", service
        assert fields["Uid"].split()[1] != "0", service  # the effective uid


def test_caller_may_trigger_but_not_administer(api: Api) -> None:
    """The caller account airflow-init created (role RestTriggerCaller) ran demo-1 above; the
    admin-only endpoints refuse it, and answer the admin (so the refusal is the role's)."""
    assert api.get(f"/dags/{DAG_ID}/dagRuns/demo-1").json()["state"] == "success"
    for path in ("/connections", "/variables", "/pools", "/users", "/roles"):
        assert api.get(path).status_code == 403, path
        assert api.get(path, auth=api.admin).status_code == 200, path
    pause = requests.patch(
        f"{api.base_url}/api/v1/dags/{DAG_ID}", json={"is_paused": True}, auth=api.auth,
        timeout=30,
    )  # fmt: skip
    assert pause.status_code == 403, pause.text
    delete = requests.delete(
        f"{api.base_url}/api/v1/dags/{DAG_ID}/dagRuns/demo-1", auth=api.auth, timeout=30
    )
    assert delete.status_code == 403, delete.text
    assert api.get(f"/dags/{DAG_ID}").json()["is_paused"] is False


def test_down_then_up_keeps_the_runs(project: ComposeProject, api: Api) -> None:
    """docs/docker.md step 5: `docker compose down` keeps the volumes."""
    project.compose("down")
    assert project.resources()["containers"] == []
    started = time.monotonic()
    project.compose(*WAIT, timeout=1800)
    print(
        f"\n  second up (images and volumes kept): healthy after {time.monotonic() - started:.1f} s"
    )
    run = api.get(f"/dags/{DAG_ID}/dagRuns/demo-1")
    assert run.status_code == 200 and run.json()["state"] == "success", run.text
    assert api.xcom("demo-1", MAIN_ETL)["total"] == expected_total(project, CONF)
    # Generated once: airflow-init ran again and kept them.
    assert project.secrets, "the secrets test did not run first"
    for name, value in project.secrets.items():
        read = project.compose("exec", "-T", "airflow-webserver", "cat", f"{SECRETS_DIR}/{name}")
        assert read.stdout == value, name


# -- the celery profile ------------------------------------------------------------------------


def test_celery_profile_runs_tasks_on_two_workers(project: ComposeProject, api: Api) -> None:
    """docs/docker.md "Scale-out": CeleryExecutor in .env (which did not exist: the command
    creates it, and its value wins over the default), then the celery and flower profiles with
    two workers; each worker runs tasks (their hostnames are the task instances'). Redis wants
    its password; Flower wants its login; still only 127.0.0.1:8080, 5439 and 5555 published."""
    # A worker under the default executor refuses to start, saying what to set.
    refused = project.compose(
        "--profile", "celery", "run", "--rm", "--no-deps", "airflow-worker", check=False
    )  # fmt: skip
    assert refused.returncode == 1
    assert "set AIRFLOW__CORE__EXECUTOR=CeleryExecutor in .env" in refused.stderr
    project.shell(doc_command(r"^echo AIRFLOW__CORE__EXECUTOR=CeleryExecutor >> \.env"))
    started = time.monotonic()
    up = project.compose("--profile", "celery", "--profile", "flower", *WAIT,
                         "--scale", f"airflow-worker={WORKERS}", timeout=1800,
                         check=False)  # fmt: skip
    assert up.returncode == 0, up.stderr[-4000:] + project.logs()
    print(f"\n  celery profile: healthy after {time.monotonic() - started:.1f} s")
    workers = {c["Config"]["Hostname"] for c in project.containers("airflow-worker")}
    assert len(workers) == WORKERS
    seen: set[str] = set()
    runs = 0
    while seen != workers and runs < MAX_CELERY_RUNS:
        runs += 1
        run_id = f"celery-{runs}"
        conf = {**CONF, "gid": runs}
        try:
            state = api.run_to_end(run_id, conf)["state"]
        except AssertionError as stuck:
            # Seen once in CI: the first run after the switch to CeleryExecutor stayed queued
            # for 300 s (not reproduced since). What the next look needs is in the logs.
            raise AssertionError(f"{stuck}\n{project.logs()}") from None
        assert state == "success"
        assert api.xcom(run_id, MAIN_ETL)["total"] == expected_total(project, conf)
        instances = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()
        seen |= {ti["hostname"] for ti in instances["task_instances"]}
    print(f"  {runs} celery runs; task hosts {sorted(seen)}, workers {sorted(workers)}")
    assert seen == workers

    refused = project.compose("exec", "-T", "redis", "redis-cli", "ping").stdout
    assert "NOAUTH" in refused, refused
    authed = project.compose(
        "exec", "-T", "redis", "sh", "-c",
        'REDISCLI_AUTH="$(cat /opt/airflow/secrets/redis_password)" redis-cli ping',
    ).stdout  # fmt: skip
    assert authed.strip() == "PONG"

    flower = f"http://127.0.0.1:{project.setting('FLOWER_PORT', '5555')}/"
    assert requests.get(flower, timeout=30).status_code == 401
    assert requests.get(flower, auth=("flower", "wrong"), timeout=30).status_code == 401
    login = project.shell(doc_command(r"^docker compose exec flower cat")).stdout.strip()
    user, password = login.split(":", 1)
    assert requests.get(flower, auth=(user, password), timeout=30).status_code == 200

    published = {
        (service_of(c), port)
        for c in inspect_all(project)
        for port, bindings in (c["HostConfig"]["PortBindings"] or {}).items()
        if bindings
    }
    assert published == {
        ("airflow-webserver", "8080/tcp"), ("warehouse", "5439/tcp"), ("flower", "5555/tcp"),
    }  # fmt: skip


def test_post_to_success_times(api: Api) -> None:
    """Printed, not asserted: the times depend on the machine."""
    assert api.post_to_success, "no run was timed"
    times = ", ".join(f"{t:.2f}" for t in api.post_to_success)
    print(f"\n  POST -> success: median {api.median_post_to_success():.2f} s over "
          f"{len(api.post_to_success)} runs ({times})")  # fmt: skip


def test_documented_stop_leaves_nothing(project: ComposeProject) -> None:
    """docs/docker.md's stop for the profiles started: containers, volumes (the secrets too) and
    network all go."""
    project.shell(doc_command(r"^docker compose --profile celery --profile flower down -v"))
    assert project.resources() == {"containers": [], "volumes": [], "networks": []}
