"""Worker hosts for real (docs/docker.md, "Worker hosts"): the main stack with the celery profile
and docker-compose.expose.yaml, and two worker hosts (docker-compose.worker.yaml), each its own
compose project from its own copy of the project, that reach the main host only by address.

What stands for the second machines (tests/support/compose_worker_host.py): each machine's
address is the gateway address of an empty Docker network made for it; the main host publishes
Redis, PostgreSQL and the warehouse relay on its address (EXPOSE_ADDRESS), each worker host its
log server on its own (WORKER_ADDRESS); the main host's webserver resolves the worker names by
extra_hosts, as an operator without DNS would. No network, volume or name is shared; the shared
secrets are copied out of the main host's volume into a 0600 directory, as with scp.

The main host runs no worker of its own (`--scale airflow-worker=0`): every task must go to a
worker host. The tests run in file order against the one set of stacks (module fixtures).
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from rest_trigger_etl.names import DAG_ID, DEMO_CONF, MAIN_ETL
from rest_trigger_local.ports import free_port, port_is_free
from tests.support.compose_reads import copy_project, expected_total
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
from tests.support.compose_worker_host import (
    EXPOSE_FILE,
    SHARED_SECRETS,
    WORKER_FILE,
    Address,
    copy_secrets,
    create_address,
    make_worker_host,
    new_password,
    port_free_on,
    remove_network,
    say,
    task_instances,
    wait_until,
)

pytestmark = compose_marks()

WORKER_UID = 50000
WORKER_LABELS = ("a", "b")
MAX_RUNS = 8
# The scheduler's zombie threshold under docker-compose.expose.yaml (60 s) plus its detection
# interval (10 s), the DAG's retry delay (10 s) and a loaded machine's slack; Airflow's default
# threshold alone is 300 s.
KILL_BOUND = 240
# Fewer demo rows than the default million: the seed is not what this test is about.
DEMO_ROWS = "200000"


@dataclass
class Hosts:
    main: ComposeProject
    api: Api
    addresses: dict[str, Address]
    workers: dict[str, ComposeProject]
    hostnames: dict[str, str]


def _up_worker(worker: ComposeProject) -> float:
    started = time.monotonic()
    up = worker.compose("up", "-d", "--wait", "--wait-timeout", "900", timeout=1800, check=False)
    assert up.returncode == 0, up.stderr[-3000:] + worker.logs()
    return time.monotonic() - started


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    env = clean_env()
    for name in remove_stale_test_projects(env):
        say(f"\n  took down {name}, left running by an earlier compose test that was killed")
    workdir = Path(tempfile.mkdtemp(prefix="rest-trigger-compose-"))
    (workdir / "owner.pid").write_text(str(os.getpid()))
    # Part of host names too: letters and digits only (mkdtemp may use "_").
    tag = re.sub(r"[^a-z0-9]", "x", workdir.name.rsplit("-", 1)[-1].lower())
    images, notes = resolve_images(env)
    env.update(images)
    if subprocess.run(["docker", "network", "inspect", "bridge"], capture_output=True).returncode:
        env["DOCKER_BUILD_NETWORK"] = "host"
    addresses: dict[str, Address] = {}
    workers: dict[str, ComposeProject] = {}
    main: ComposeProject | None = None
    try:
        for machine in ("main", *WORKER_LABELS):
            addresses[machine] = create_address(f"rt-lan-{tag}-{machine}", env)
        main_ip = addresses["main"].ip
        hostnames = {label: f"rt-worker-{label}-{tag}" for label in WORKER_LABELS}
        directory = workdir / f"rest-trigger-{tag}"
        directory.mkdir()
        copy_project(directory)
        postgres_password, warehouse_password = new_password(), new_password()
        ports = {"POSTGRES_PORT": 5432, "REDIS_PORT": 6379, "WAREHOUSE_PORT": 5439}
        for name, port in ports.items():
            if not (port_free_on(main_ip, port) and port_is_free("127.0.0.1", port)):
                ports[name] = free_port()
        airflow_port = 8080 if port_is_free("127.0.0.1", 8080) else free_port()
        dotenv = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "EXPOSE_ADDRESS": main_ip,
            "POSTGRES_PASSWORD": postgres_password,
            "WAREHOUSE_PASSWORD": warehouse_password,
            "AIRFLOW_PORT": str(airflow_port),
            "DEMO_ROWS": DEMO_ROWS,
            **{name: str(port) for name, port in ports.items()},
        }
        (directory / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        # The operator's name resolution on the main host (no DNS here): the worker names as
        # the task instances record them, to the worker hosts' addresses.
        names = [f"{hostnames[label]}:{addresses[label].ip}" for label in WORKER_LABELS]
        (directory / "worker-names.yaml").write_text(
            "services:\n  airflow-webserver:\n    extra_hosts:\n"
            + "".join(f"      - {line}\n" for line in names)
        )
        main_env = {
            **env,
            "COMPOSE_FILE": f"docker-compose.yaml:{EXPOSE_FILE}:worker-names.yaml",
            "COMPOSE_PROFILES": "celery",
        }
        main = ComposeProject(directory, main_env)
        say(f"\nmain host: project {main.name}, address {main_ip}; images:")
        for line in notes:
            say(f"  {line}")
        started = time.monotonic()
        up = main.compose("up", "-d", "--wait", "--wait-timeout", "900",
                          "--scale", "airflow-worker=0", timeout=1800, check=False)  # fmt: skip
        assert up.returncode == 0, up.stderr[-3000:] + main.logs()
        say(f"  main host (celery profile, exposed, no worker): healthy after "
            f"{time.monotonic() - started:.0f} s")  # fmt: skip

        for label in WORKER_LABELS:
            secrets_dir = workdir / f"secrets-{label}"
            copy_secrets(main, secrets_dir, WORKER_UID, postgres_password)
            workers[label] = make_worker_host(workdir, f"{tag}-w{label}", env, {
                "MAIN_HOST": main_ip,
                **{name: str(port) for name, port in ports.items()},
                "WAREHOUSE_PASSWORD": warehouse_password,
                "WORKER_HOSTNAME": hostnames[label],
                "WORKER_ADDRESS": addresses[label].ip,
                "WORKER_SECRETS_DIR": str(secrets_dir),
                "AIRFLOW_UID": str(WORKER_UID),
            })  # fmt: skip
            workers[label].env["COMPOSE_FILE"] = WORKER_FILE
        with ThreadPoolExecutor(len(workers)) as pool:
            took = list(pool.map(_up_worker, workers.values()))
        for label, seconds in zip(WORKER_LABELS, took, strict=True):
            say(f"  worker host {label}: {hostnames[label]} at {addresses[label].ip}, project "
                f"{workers[label].name}: healthy after {seconds:.0f} s")  # fmt: skip
        api = Api(f"http://127.0.0.1:{airflow_port}", auth=("caller", "caller"),
                  admin=("admin", "admin"))  # fmt: skip
        yield Hosts(main, api, addresses, workers, hostnames)
    finally:
        for worker in workers.values():
            worker.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
        if main is not None:
            main.compose("--profile", "*", "down", "-v", "--remove-orphans", "--timeout", "30",
                         check=False)  # fmt: skip
        for address in addresses.values():
            remove_network(address.network, env)
        shutil.rmtree(workdir, ignore_errors=True)


def published(project: ComposeProject) -> dict[tuple[str, str], set[str]]:
    """(service, port) -> the host addresses it is published on."""
    found: dict[tuple[str, str], set[str]] = {}
    ids = project.compose("ps", "-q").stdout.split()
    for container in json.loads(run(["docker", "inspect", *ids], PROJECT_DIR, project.env).stdout):
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        for port, bindings in (container["HostConfig"]["PortBindings"] or {}).items():
            found[(service, port)] = {b["HostIp"] for b in bindings or []}
    return found


def container_of(project: ComposeProject, service: str) -> str:
    (container,) = project.compose("ps", "-q", service).stdout.split()
    return container


def in_worker(hosts: Hosts, label: str, code: str) -> subprocess.CompletedProcess[str]:
    """Python inside worker host `label`'s worker container: what that machine can reach."""
    worker = hosts.workers[label]
    return run(["docker", "exec", container_of(worker, "airflow-worker"), "python", "-c", code],
               PROJECT_DIR, worker.env, check=False)  # fmt: skip


# -- the files' promises -------------------------------------------------------------------------


def test_exposing_and_worker_hosts_refuse_to_start_without_address_and_passwords(
    tmp_path: Path,
) -> None:
    """No default address, no local-only password accepted from other hosts: compose names the
    missing variable before starting anything."""
    full = {"EXPOSE_ADDRESS": "10.1.2.3", "POSTGRES_PASSWORD": "p", "WAREHOUSE_PASSWORD": "w"}
    expose = ["-f", "docker-compose.yaml", "-f", EXPOSE_FILE, "--profile", "celery"]
    worker_full = {"MAIN_HOST": "10.1.2.3", "WORKER_HOSTNAME": "w", "WORKER_ADDRESS": "10.1.2.4",
                   "WORKER_SECRETS_DIR": str(tmp_path)}  # fmt: skip
    for files, values in ((expose, full), (["-f", WORKER_FILE], worker_full)):
        for missing in values:
            dotenv = tmp_path / "env"
            dotenv.write_text("".join(f"{k}={v}\n" for k, v in values.items() if k != missing))
            result = run(["docker", "compose", "--env-file", str(dotenv), *files, "config", "-q"],
                         PROJECT_DIR, clean_env(), check=False)  # fmt: skip
            assert result.returncode != 0, missing
            assert f"required variable {missing} is missing a value" in result.stderr, result.stderr
        dotenv.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        ok = run(["docker", "compose", "--env-file", str(dotenv), *files, "config", "-q"],
                 PROJECT_DIR, clean_env(), check=False)  # fmt: skip
        assert ok.returncode == 0, ok.stderr


# -- the stacks ----------------------------------------------------------------------------------


def test_main_host_healthy_publishing_only_the_three_services_on_its_address(hosts: Hosts) -> None:
    states = [json.loads(line) for line in hosts.main.compose("ps", "--format", "json").stdout
              .splitlines() if line.strip()]  # fmt: skip
    assert {s["Service"] for s in states} == {
        "postgres", "warehouse-db", "warehouse", "airflow-webserver", "airflow-scheduler",
        "airflow-triggerer", "redis",
    }  # fmt: skip
    assert all(s["Health"] == "healthy" for s in states), states
    main_ip = hosts.addresses["main"].ip
    assert published(hosts.main) == {
        ("airflow-webserver", "8080/tcp"): {"127.0.0.1"},
        ("warehouse", "5439/tcp"): {"127.0.0.1", main_ip},
        ("postgres", "5432/tcp"): {main_ip},
        ("redis", "6379/tcp"): {main_ip},
    }


def test_worker_hosts_share_no_network_volume_or_name_with_the_main_host(hosts: Hosts) -> None:
    main_networks = set(hosts.main.resources()["networks"])
    main_volumes = set(hosts.main.resources()["volumes"])
    for label, worker in hosts.workers.items():
        container = json.loads(run(["docker", "inspect", container_of(worker, "airflow-worker")],
                                   PROJECT_DIR, worker.env).stdout)[0]  # fmt: skip
        networks = set(container["NetworkSettings"]["Networks"])
        assert networks == {f"{worker.name}_default"}, networks
        assert not networks & main_networks
        mounts = {m["Destination"]: m for m in container["Mounts"]}
        assert not {m.get("Name") for m in mounts.values()} & main_volumes
        secrets = mounts["/opt/airflow/secrets"]
        assert (secrets["Type"], secrets["RW"]) == ("bind", False), secrets
        assert container["Config"]["Hostname"] == hosts.hostnames[label]
        assert published(worker) == {("airflow-worker", "8793/tcp"): {hosts.addresses[label].ip}}
        # The main host's service names mean nothing here.
        for name in ("postgres", "redis", "warehouse", "airflow-webserver"):
            lookup = in_worker(hosts, label, f"import socket; socket.gethostbyname({name!r})")
            assert lookup.returncode != 0, name
        files = [f"/opt/airflow/secrets/{n}" for n in (*SHARED_SECRETS, "postgres_password")]
        modes = run(["docker", "exec", container["Id"], "stat", "-L", "-c", "%a %n", *files],
                    PROJECT_DIR, worker.env).stdout.split("\n")  # fmt: skip
        assert all(line.startswith("600 ") for line in filter(None, modes)), modes


def test_worker_host_containers_hardened(hosts: Hosts) -> None:
    """As on the main host: no-new-privileges, every capability dropped (worker-init adds back
    CHOWN only, for the new logs volume), the worker not root."""
    for worker in hosts.workers.values():
        ids = worker.compose("ps", "-a", "-q").stdout.split()
        for container in json.loads(run(["docker", "inspect", *ids], PROJECT_DIR,
                                         worker.env).stdout):  # fmt: skip
            service = container["Config"]["Labels"]["com.docker.compose.service"]
            host = container["HostConfig"]
            assert "no-new-privileges:true" in (host["SecurityOpt"] or []), service
            assert [c.upper() for c in host["CapDrop"] or []] in (["ALL"], ["CAP_ALL"]), service
            added = {c.removeprefix("CAP_") for c in host["CapAdd"] or []}
            assert added == ({"CHOWN"} if service == "worker-init" else set()), service
            if service == "airflow-worker":
                assert container["Config"]["User"] == f"{WORKER_UID}:0", service


def test_from_a_worker_host_the_defaults_are_refused_and_loopback_unreachable(hosts: Hosts) -> None:
    """Through the main host's address: airflow/airflow and warehouse/warehouse fail, Redis wants
    its password, and what the main host keeps on 127.0.0.1 (the API, 8080) is not there."""
    main = hosts.main
    ip = hosts.addresses["main"].ip
    for port, db, user, password in (
        (main.setting("POSTGRES_PORT", "5432"), "airflow", "airflow", "airflow"),
        (main.setting("WAREHOUSE_PORT", "5439"), "dev", "warehouse", "warehouse"),
    ):
        login = in_worker(hosts, "a", (
            "import psycopg2\n"
            f"try:\n psycopg2.connect(host={ip!r}, port={port}, dbname={db!r}, user={user!r},"
            f" password={password!r}, connect_timeout=10)\n"
            "except psycopg2.OperationalError as e:\n print(e)\nelse:\n print('ACCEPTED')"
        ))  # fmt: skip
        refused = "password authentication failed" in login.stdout
        assert refused and "ACCEPTED" not in login.stdout, login.stdout + login.stderr
    noauth = in_worker(hosts, "a", (
        "import redis\n"
        f"try:\n redis.Redis(host={ip!r}, port={main.setting('REDIS_PORT', '6379')}).ping()\n"
        "except redis.exceptions.AuthenticationError as e:\n print('NOAUTH', e)"
    ))  # fmt: skip
    assert "NOAUTH" in noauth.stdout, noauth.stdout + noauth.stderr
    api_port = main.setting("AIRFLOW_PORT", "8080")
    closed = in_worker(hosts, "a", (
        "import socket\n"
        f"try:\n socket.create_connection(({ip!r}, {api_port}), timeout=5)\n"
        "except OSError as e:\n print('CLOSED', e)"
    ))  # fmt: skip
    assert "CLOSED" in closed.stdout, closed.stdout + closed.stderr


def test_runs_execute_on_the_worker_hosts_with_the_right_totals(hosts: Hosts) -> None:
    workers = set(hosts.hostnames.values())
    seen: set[str] = set()
    runs = 0
    while seen != workers and runs < MAX_RUNS:
        runs += 1
        run_id, conf = f"remote-{runs}", {**DEMO_CONF, "gid": runs}
        try:
            state = hosts.api.run_to_end(run_id, conf)["state"]
        except AssertionError as stuck:
            raise AssertionError(f"{stuck}\n{hosts.main.logs()}") from None
        assert state == "success"
        assert hosts.api.xcom(run_id, MAIN_ETL)["total"] == expected_total(hosts.main, conf)
        ran_on = {ti["task_id"]: ti["hostname"] for ti in task_instances(hosts.api, DAG_ID, run_id)}
        say(f"\n  {run_id}: success in {hosts.api.post_to_success[-1]:.2f} s; hosts {ran_on}")
        assert set(ran_on.values()) <= workers, ran_on
        seen |= set(ran_on.values())
    times = ", ".join(f"{t:.2f}" for t in hosts.api.post_to_success)
    say(f"  {runs} runs on worker hosts {sorted(seen)}; POST -> success median "
        f"{hosts.api.median_post_to_success():.2f} s ({times})")  # fmt: skip
    assert seen == workers


def test_remote_task_log_reads_back_through_the_main_webserver(hosts: Hosts) -> None:
    """The main host has no copy of a remote task's log: its webserver fetches it from the
    worker's log server, by the recorded hostname, signing the request with the shared key."""
    total = hosts.api.xcom("remote-1", MAIN_ETL)["total"]
    (ti,) = [t for t in task_instances(hosts.api, DAG_ID, "remote-1") if t["task_id"] == MAIN_ETL]
    answer = requests.get(
        f"{hosts.api.base_url}/api/v1/dags/{DAG_ID}/dagRuns/remote-1/taskInstances/{MAIN_ETL}"
        "/logs/1?full_content=true", auth=hosts.api.admin, headers={"Accept": "text/plain"},
        timeout=60,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:2000]
    assert f"total={total} " in answer.text, answer.text[-3000:]
    assert f"http://{ti['hostname']}:8793/log/" in answer.text, answer.text[:2000]
    say(f"\n  main_etl's log of remote-1 (total={total}) served by {ti['hostname']}:8793")


def test_a_killed_worker_host_leaves_no_run_stuck(hosts: Hosts) -> None:
    """docker kill of the worker container running a task, mid-run. Celery acks late (Airflow's
    default) but Redis would redeliver only after its 24 h visibility timeout: what frees the
    task is the scheduler's zombie detection (60 s under docker-compose.expose.yaml), then the
    DAG's retry (retries=1, 10 s) on whichever worker takes it."""
    by_name = {hosts.hostnames[label]: label for label in WORKER_LABELS}
    for attempt in range(1, 4):
        run_id = f"kill-{attempt}"
        posted = time.monotonic()
        assert hosts.api.trigger(run_id, {**DEMO_CONF, "gid": 100 + attempt}).status_code == 200
        victim: dict[str, str] = {}

        def running_remotely(run_id: str = run_id, victim: dict[str, str] = victim) -> bool:
            for ti in task_instances(hosts.api, DAG_ID, run_id):
                if ti["state"] == "running" and ti["hostname"] in by_name:
                    victim.update(ti)
                    return True
            return False

        wait_until(running_remotely, timeout=180, interval=0.1)
        label = by_name[victim["hostname"]]
        worker = hosts.workers[label]
        container = container_of(worker, "airflow-worker")
        run(["docker", "kill", container], PROJECT_DIR, worker.env)
        killed = time.monotonic()
        result = hosts.api.wait_for_run(run_id, posted, timeout=KILL_BOUND + 120)
        ended = time.monotonic() - killed
        (after,) = [t for t in task_instances(hosts.api, DAG_ID, run_id)
                    if t["task_id"] == victim["task_id"]]  # fmt: skip
        if after["try_number"] == 1 and after["state"] == "success":
            say(f"\n  {run_id}: {victim['task_id']} finished before the kill landed; again")
            continue
        say(f"\n  {run_id}: killed {victim['hostname']} running {victim['task_id']} (try 1)"
            f" {killed - posted:.1f} s after the POST; run {result['state']} {ended:.0f} s after"
            f" the kill; {victim['task_id']} try {after['try_number']} {after['state']} on"
            f" {after['hostname']}")  # fmt: skip
        # Whether `restart: always` brought it back (Docker Engine 20.10 here: it did not).
        state = json.loads(run(["docker", "inspect", container], PROJECT_DIR, worker.env).stdout)
        say(f"  the killed container afterwards: {state[0]['State']['Status']},"
            f" {state[0]['RestartCount']} restart(s)")  # fmt: skip
        assert result["state"] in ("success", "failed")
        assert ended < KILL_BOUND, ended
        if result["state"] == "success":
            conf = {**DEMO_CONF, "gid": 100 + attempt}
            assert hosts.api.xcom(run_id, MAIN_ETL)["total"] == expected_total(hosts.main, conf)
        return
    raise AssertionError("three runs ended before a kill could land")


def test_stopping_the_worker_hosts_leaves_the_main_host_healthy(hosts: Hosts) -> None:
    for worker in hosts.workers.values():
        worker.compose("down", "-v", "--timeout", "30")
        assert worker.resources() == {"containers": [], "volumes": [], "networks": []}
    # A healthcheck interval and more, so a check that would fail has run.
    time.sleep(15)
    states = [json.loads(line) for line in hosts.main.compose("ps", "--format", "json").stdout
              .splitlines() if line.strip()]  # fmt: skip
    assert all(s["State"] == "running" and s["Health"] == "healthy" for s in states), states
    health = requests.get(f"{hosts.api.base_url}/api/v1/health", timeout=30)
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["metadatabase"]["status"] == "healthy", body
    assert body["scheduler"]["status"] == "healthy", body
    say(f"\n  worker hosts stopped: main host {len(states)} services healthy, /api/v1/health 200")
