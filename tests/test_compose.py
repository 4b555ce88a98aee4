"""`docker compose up`, checked without a Docker engine.

The fast tests hold the compose file, the Dockerfile, .env.example and `make docker-env` to
what docs/docker.md promises (Debian's docker-compose validates the file with every profile).
The e2e test then runs what the compose file gives its containers, on this machine: the relay
service's command, airflow-init's script, the webserver and scheduler (through the launcher)
and the triggerer, all with the containers' environment from .env, each compose host name
pointed at the local server standing in for it (tests/fixtures/compose.py), and proves the
REST API (basic auth from .env), the healthchecks and a real run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fixtures.airflow_stack import PROJECT_DIR, _clean_env, start_stack, stop_stack
from tests.fixtures.compose import (
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    LocalAddresses,
    MissingVariable,
    compose_variables,
    container_env,
    docker_compose,
    docker_compose_binary,
    healthcheck_command,
    image_env,
    load_compose,
    local_process_env,
    make_env_file,
    read_env_file,
    run_until_healthy,
    stop_process_group,
)
from tests.fixtures.databases import free_port

AIRFLOW_SERVICES = ("airflow-webserver", "airflow-scheduler", "airflow-triggerer")
CONF = {"gid": 42, "sid": 7, "date_start": "2024-01-01", "date_end": "2024-03-31"}
# What the compose file may set for Airflow beyond airflow.cfg: hosts, executor, secrets, and
# the two settings a container needs (listen beyond its loopback; the scheduler's /health).
CONTAINER_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__WEBSERVER__SECRET_KEY",
    "AIRFLOW__WEBSERVER__WEB_SERVER_HOST",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
}
PROFILE_SETS: list[tuple[str, ...]] = [
    (),
    ("celery",),
    ("flower",),
    ("celery", "flower"),
    ("debug",),
]

needs_docker_compose = pytest.mark.skipif(
    docker_compose_binary() is None,
    reason="no docker-compose binary (Debian package docker-compose: `make system-deps`)",
)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_env_file(tmp_path_factory.mktemp("compose-env"))


@pytest.fixture(scope="module")
def compose(env_file: Path) -> dict[str, Any]:
    return load_compose(read_env_file(env_file))


def _active(compose: dict[str, Any], profiles: tuple[str, ...]) -> set[str]:
    return {
        name
        for name, service in compose["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


# -- the files -------------------------------------------------------------------------------


@needs_docker_compose
@pytest.mark.parametrize("profiles", PROFILE_SETS, ids=lambda p: "+".join(p) or "default")
def test_docker_compose_accepts_the_file(env_file: Path, profiles: tuple[str, ...]) -> None:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    result = docker_compose(env_file, *flags, "config")
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    # Our reading of the file (used by the e2e tests) is docker-compose's own, to the value.
    ours = load_compose(read_env_file(env_file))
    for name, service in rendered["services"].items():
        theirs = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        mine = {k: str(v) for k, v in (ours["services"][name].get("environment") or {}).items()}
        assert theirs == mine, name


@needs_docker_compose
def test_compose_profiles_variable_works_too(env_file: Path) -> None:
    clean = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    result = subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        env={**clean, "COMPOSE_PROFILES": "celery,flower"}, cwd=PROJECT_DIR,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@needs_docker_compose
def test_without_env_file_compose_says_what_to_do(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = docker_compose(empty, "config")
    assert result.returncode != 0
    assert "AIRFLOW__CORE__FERNET_KEY" in result.stderr
    assert "make docker-env" in result.stderr
    with pytest.raises(MissingVariable, match="make docker-env"):
        load_compose({})


@pytest.mark.parametrize("profiles", PROFILE_SETS, ids=lambda p: "+".join(p) or "default")
def test_every_profile_is_self_contained(
    compose: dict[str, Any], profiles: tuple[str, ...]
) -> None:
    active = _active(compose, profiles)
    for name in active:
        needs = set(compose["services"][name].get("depends_on") or {})
        assert needs <= active, f"{name} (profiles {profiles}) depends on disabled {needs - active}"
    if "celery" in profiles:
        assert {"redis", "airflow-worker"} <= active
    else:
        assert "airflow-worker" not in active


def test_default_stack_is_the_make_run_stack(compose: dict[str, Any]) -> None:
    active = _active(compose, ())
    assert active == {
        "postgres", "warehouse-db", "warehouse", "airflow-init",
        "airflow-webserver", "airflow-scheduler", "airflow-triggerer",
    }  # fmt: skip
    services = compose["services"]
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        deps = services[name]["depends_on"]
        assert deps["postgres"] == {"condition": "service_healthy"}, name
        assert "healthcheck" in services[name] or name == "airflow-init"
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"] == {"condition": "service_completed_successfully"}
        assert deps["warehouse"] == {"condition": "service_healthy"}
    # Published on the host's loopback only.
    assert services["airflow-webserver"]["ports"] == ["127.0.0.1:8080:8080"]
    assert services["warehouse"]["ports"] == ["127.0.0.1:5439:5439"]
    assert "ports" not in services["postgres"] and "ports" not in services["warehouse-db"]
    # md5 logins for redshift_connector on the stand-in warehouse.
    wh = services["warehouse-db"]
    assert wh["environment"]["POSTGRES_INITDB_ARGS"] == "--auth-host=md5"
    assert wh["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "md5"
    assert "password_encryption=md5" in wh["command"]


def test_airflow_services_get_airflow_cfg_and_only_container_differences(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    common = container_env(compose, "airflow-scheduler")
    for name in (*AIRFLOW_SERVICES, "airflow-worker", "flower"):
        env = container_env(compose, name)
        assert {k: v for k, v in env.items() if k != "DUMB_INIT_SETSID"} == common, name
        assert "./airflow.cfg:/opt/airflow/airflow.cfg:ro" in services[name]["volumes"]
        assert services[name]["user"] == "50000:0"
    assert common["AIRFLOW_CONFIG"] == "/opt/airflow/airflow.cfg"
    assert common["REST_TRIGGER_HOME"] == "/opt/airflow"
    settings = {k for k in common if k.startswith("AIRFLOW__")}
    assert settings == CONTAINER_SETTINGS
    # The classic compose pitfalls: an env var overriding airflow.cfg's API auth (401/403),
    # paused-at-creation DAGs (runs queued forever), example DAGs, runtime pip installs.
    every_value = json.dumps(compose["services"])
    for forbidden in ("AIRFLOW__API__", "DAGS_ARE_PAUSED", "LOAD_EXAMPLES", "_PIP_ADDITIONAL"):
        assert forbidden not in every_value
    assert common["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert common["AIRFLOW__WEBSERVER__WEB_SERVER_HOST"] == "0.0.0.0"


def test_env_example_lists_every_variable_and_no_secret() -> None:
    text = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    assert compose_variables() - {"HOSTNAME"} <= documented
    values = read_env_file(ENV_EXAMPLE)
    assert values["AIRFLOW__CORE__FERNET_KEY"] == ""
    assert values["AIRFLOW__WEBSERVER__SECRET_KEY"] == ""
    # The local connection matches the stand-in warehouse's own settings.
    conn = json.loads(values["AIRFLOW_CONN_REDSHIFT_DEFAULT"])
    assert (conn["host"], conn["port"], conn["extra"]["ssl"]) == ("warehouse", 5439, False)
    assert (conn["schema"], conn["login"], conn["password"]) == (
        values["WAREHOUSE_DB"], values["WAREHOUSE_USER"], values["WAREHOUSE_PASSWORD"],
    )  # fmt: skip
    tracked = subprocess.run(
        ["git", "ls-files", ".env"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


def test_make_docker_env_writes_usable_secrets_once(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    path = make_env_file(tmp_path)
    values = read_env_file(path)
    token = Fernet(values["AIRFLOW__CORE__FERNET_KEY"].encode()).encrypt(b"x")
    assert Fernet(values["AIRFLOW__CORE__FERNET_KEY"].encode()).decrypt(token) == b"x"
    assert re.fullmatch(r"[0-9a-f]{64}", values["AIRFLOW__WEBSERVER__SECRET_KEY"])
    assert path.stat().st_mode & 0o077 == 0
    expected_uid = "50000" if os.getuid() == 0 else str(os.getuid())
    assert values["AIRFLOW_UID"] == expected_uid
    before = path.read_text()
    make_env_file(tmp_path)
    assert path.read_text() == before
    (tmp_path / "other").mkdir()
    other = read_env_file(make_env_file(tmp_path / "other"))  # another folder: fresh keys
    assert other["AIRFLOW__CORE__FERNET_KEY"] != values["AIRFLOW__CORE__FERNET_KEY"]


def test_image_versions_agree_with_the_lock() -> None:
    dockerfile = DOCKERFILE.read_text()
    (image,) = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    match = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", image)
    assert match, f"FROM {image} is not a pinned apache/airflow:<version>-python<x.y> tag"
    airflow_version, python_version = match.groups()
    lock = (PROJECT_DIR / "requirements.lock").read_text()
    assert re.search(rf"^apache-airflow=={re.escape(airflow_version)}$", lock, flags=re.MULTILINE)
    (header,) = re.findall(r"^#\s+uv pip compile .*$", lock, flags=re.MULTILINE)
    assert f"--python-version {python_version}" in header
    # The local runs (make run, these tests) use the same Airflow the image has.
    from importlib.metadata import version

    assert version("apache-airflow") == airflow_version
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == python_version
    # The lock is what the image installs, and as the image's airflow user (no USER root).
    assert re.search(r"^COPY .*requirements\.lock ", dockerfile, flags=re.MULTILINE)
    assert "pip install --no-cache-dir -r /tmp/requirements.lock" in dockerfile
    assert not re.search(r"^USER\s+(root|0)\b", dockerfile, flags=re.MULTILINE)


def test_build_context_holds_what_the_dockerfile_copies_and_no_secret() -> None:
    ignore = [
        line.strip()
        for line in (PROJECT_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"  # an allow-list
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set(re.findall(r"^COPY (?:--\S+ )*(\S+) ", DOCKERFILE.read_text(), flags=re.MULTILINE))
    assert {c.rstrip("/") for c in copied} == allowed
    for path in allowed:
        assert (PROJECT_DIR / path).exists(), path
    assert not allowed & {".env", ".local", ".venv", ".git"}
    assert image_env() == {
        "REST_TRIGGER_HOME": "/opt/airflow",
        "AIRFLOW_CONFIG": "/opt/airflow/airflow.cfg",
    }


def test_worker_refuses_to_start_without_the_celery_executor(compose: dict[str, Any]) -> None:
    """The worker's own start script, run as-is: under LocalExecutor it exits with the fix."""
    command = LocalAddresses(hosts={}).argv(compose["services"]["airflow-worker"]["command"])
    env = local_process_env(container_env(compose, "airflow-worker"))
    result = subprocess.run(
        ["/bin/bash", *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "set AIRFLOW__CORE__EXECUTOR=CeleryExecutor in .env" in result.stderr


# -- the configuration, run --------------------------------------------------------------------


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env=env, cwd=PROJECT_DIR, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


@pytest.mark.e2e
def test_compose_configuration_runs_rest_trigger(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    from rest_trigger_local.postgres import EmbeddedPostgres
    from tests.test_api_e2e import independent_count

    password = secrets.token_urlsafe(12)
    env_file = make_env_file(tmp_path, AIRFLOW_ADMIN_PASSWORD=password, DEMO_ROWS="50000")
    dotenv = read_env_file(env_file)
    compose = load_compose(dotenv)
    services = compose["services"]
    state = Path(tempfile.mkdtemp(prefix="rest-trigger-test-compose-"))
    pg_port, relay_port, airflow_port, health_port = (free_port() for _ in range(4))
    local = LocalAddresses(
        hosts={
            "postgres": ("127.0.0.1", pg_port),
            "warehouse-db": ("127.0.0.1", pg_port),
            "warehouse": ("127.0.0.1", relay_port),
        },
        ports={8080: airflow_port, 8974: health_port, 5439: relay_port},
        paths={"/opt/airflow/logs": state / "airflow" / "logs"},
    )
    base = _clean_env()
    pg = EmbeddedPostgres(state / "pgdata", pg_port)
    relay = triggerer = stack = None
    try:
        # postgres and warehouse-db: one embedded server, with each service's user and database.
        pg.init()
        pg.start()
        for name in ("postgres", "warehouse-db"):
            db = services[name]["environment"]
            pg.ensure_role_and_database(
                db["POSTGRES_USER"], db["POSTGRES_PASSWORD"], db["POSTGRES_DB"]
            )

        # warehouse: the relay service's command, healthy by its own healthcheck.
        relay_env = local_process_env(base, **local.env(container_env(compose, "warehouse")))
        relay = _spawn(
            local.argv(services["warehouse"]["command"]), relay_env, tmp_path / "relay.log"
        )
        check = run_until_healthy(local.argv(healthcheck_command(compose, "warehouse")), relay_env)
        assert check.returncode == 0, check.stderr

        # airflow-init: its script (as root it also gives the logs folder to AIRFLOW_UID).
        script = local.argv(services["airflow-init"]["command"])
        if os.geteuid() != 0:
            script = [re.sub(r"^chown .*$", ":", s, flags=re.MULTILINE) for s in script]
        init_env = local_process_env(
            base, **local.env(container_env(compose, "airflow-init")),
            AIRFLOW_HOME=str(state / "airflow"),
        )  # fmt: skip
        init = subprocess.run(
            ["/bin/bash", *script], env=init_env, cwd=PROJECT_DIR,
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]
        assert f'User "{dotenv["AIRFLOW_ADMIN_USER"]}" created' in init.stdout + init.stderr
        assert "seeding 50000 activity rows" in init.stderr
        if os.geteuid() == 0:
            assert (state / "airflow" / "logs").stat().st_uid == int(dotenv["AIRFLOW_UID"])

        # airflow-webserver and airflow-scheduler: the launcher, with the containers' environment.
        overlay = local.env(container_env(compose, "airflow-scheduler"))
        overlay.update(
            {   # Airflow's own container ports, on free local ports here.
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_port),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )  # fmt: skip
        (state / "secrets.json").write_text(
            json.dumps(
                {
                    "fernet_key": dotenv["AIRFLOW__CORE__FERNET_KEY"],
                    "webserver_secret_key": dotenv["AIRFLOW__WEBSERVER__SECRET_KEY"],
                    "metadb_password": services["postgres"]["environment"]["POSTGRES_PASSWORD"],
                }
            )
        )
        stack = start_stack(
            state,
            AIRFLOW_PORT=str(airflow_port),
            LOCAL_PG_PORT=str(pg_port),
            **{k: dotenv[k] for k in ("AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD", "DEMO_ROWS",
                                      "WAREHOUSE_DB", "WAREHOUSE_USER", "WAREHOUSE_PASSWORD")},
            REST_TRIGGER_AIRFLOW_ENV=json.dumps(overlay),
        )  # fmt: skip
        launched = stack.output.read_text()
        # airflow-init did both already: the launcher found the admin and the seeded warehouse.
        # (It creates the caller account itself until airflow-init runs
        # rest_trigger_local.accounts too: the compose part of issue 10.)
        assert f"created the Airflow user {dotenv['AIRFLOW_ADMIN_USER']!r}" not in launched
        assert "seeded the warehouse" not in launched

        # airflow-triggerer: the service's command beside them, with the same environment.
        sibling_env = local_process_env(
            base, **overlay, AIRFLOW_HOME=str(state / "airflow"),
            PYTHONWARNINGS="ignore::DeprecationWarning",
        )  # fmt: skip
        triggerer = _spawn(
            ["airflow", services["airflow-triggerer"]["command"]],
            sibling_env, tmp_path / "triggerer.log",
        )  # fmt: skip

        # The healthchecks docker compose would run, against these processes.
        # ($HOSTNAME: in a container, the name Airflow records its jobs under.)
        from airflow.utils.net import get_hostname

        for name, process in (
            ("airflow-webserver", stack.process),
            ("airflow-scheduler", stack.process),
            ("airflow-triggerer", triggerer),
        ):
            env = {**sibling_env, "HOSTNAME": get_hostname()}
            argv = local.argv(healthcheck_command(compose, name))
            check = run_until_healthy(argv, env, process=process)
            assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr[-2000:]}"

        # The REST API: basic auth with the .env login, nothing without it.
        # (Airflow 2.11.2 answers 403, not 401, when no credentials come with the request.)
        assert requests.get(f"{stack.api}/dags", timeout=30).status_code == 403
        wrong = stack.get("/dags", auth=(dotenv["AIRFLOW_ADMIN_USER"], "not-the-password"))
        assert wrong.status_code == 403
        listed = stack.get("/dags")
        assert listed.status_code == 200, listed.text
        assert [(d["dag_id"], d["is_paused"]) for d in listed.json()["dags"]] == [
            ("rest-trigger", False)
        ]

        # The Fernet key from .env is the one encrypting the metadata database.
        created = stack.post("/variables", {"key": "compose_fernet_check", "value": "v1"})
        assert created.status_code == 200, created.text
        import psycopg2

        metadb = services["postgres"]["environment"]
        conn = psycopg2.connect(
            host="127.0.0.1", port=pg_port, dbname=metadb["POSTGRES_DB"],
            user=metadb["POSTGRES_USER"], password=metadb["POSTGRES_PASSWORD"],
        )  # fmt: skip
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT val, is_encrypted FROM variable WHERE key = %s",
                    ("compose_fernet_check",),
                )
                val, encrypted = cur.fetchone()
        finally:
            conn.close()
        assert encrypted
        assert Fernet(dotenv["AIRFLOW__CORE__FERNET_KEY"].encode()).decrypt(val.encode()) == b"v1"

        # A run, through the relay service's process to the warehouse airflow-init seeded.
        response = stack.trigger("compose-1", CONF)
        assert response.status_code == 200, response.text
        assert stack.wait_for_run("compose-1", timeout=300)["state"] == "success"
        expected = independent_count(
            stack, gid=CONF["gid"], sid=CONF["sid"], start=CONF["date_start"], end=CONF["date_end"]
        )
        assert expected > 0
        assert stack.xcom("compose-1", "main_etl") == {
            "dag_run_id": "compose-1",
            **CONF,
            "total": expected,
        }
    finally:
        stop_process_group(triggerer)
        leftovers = stop_stack(stack) if stack is not None else []
        stop_process_group(relay)
        pg.stop()
    assert leftovers == []
    shutil.rmtree(state, ignore_errors=True)  # kept only when the test failed
