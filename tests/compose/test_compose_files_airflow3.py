"""docker-compose.airflow3.yaml, the Airflow 3.3.2 override, checked the way test_compose_files.py
checks the main file (tests/compose/test_compose_stack_airflow3.py runs it for real): valid and
self-contained for every profile with and without `.env`, hardened like the stack, only the
settings Airflow 3 needs on top of the container ones, its own metadata database and logs, and
its image tag and build arguments agreeing with requirements-airflow3.lock."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rest_trigger_local.settings import JWT_EXPIRATION_SECONDS, MOVED_IN_AIRFLOW3, PROJECT_DIR
from tests.support.compose_config import (
    AIRFLOW3_FILE,
    AIRFLOW3_LOCK,
    COMPOSE_FILE,
    CONTAINER_SETTINGS,
    DOCKERFILE,
    PROFILE_SETS,
    assert_hardened,
    needs_compose,
    rendered,
)

AIRFLOW3_FILES = (COMPOSE_FILE, AIRFLOW3_FILE)
# What Airflow 3 runs instead of the webserver and triggerer (and the dag-processor apart).
AIRFLOW3_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor")
# What the variant adds to CONTAINER_SETTINGS (as `make run AIRFLOW=3` does): Airflow 3's own
# names for what 2.11 read elsewhere, the JWT secret, the execution API's URL, two api-server
# workers under gunicorn, a Jinja log file name, FAB's config file, the tokens' lifetime, and
# the options 3.x moved (below).
AIRFLOW3_SETTINGS = {
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API_AUTH__JWT_SECRET_CMD",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API__SECRET_KEY_CMD",
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__SERVER_TYPE",
    "AIRFLOW__API__WORKERS",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT",
    "AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE",
    "AIRFLOW__FAB__CONFIG_FILE",
    "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME",
}


@needs_compose
@pytest.mark.parametrize("with_env", [True, False], ids=["env", "no-env"])
@pytest.mark.parametrize("profiles", PROFILE_SETS, ids=lambda p: "+".join(p) or "default")
def test_airflow3_variant_is_valid_and_self_contained(
    env_file: Path, tmp_path: Path, profiles: tuple[str, ...], with_env: bool
) -> None:
    """Both files together, every profile, with and without .env: the api-server and the
    dag-processor instead of the webserver and the triggerer; nothing depends on a service that
    is not there; ports on 127.0.0.1 only, the API on 8080."""
    if not with_env:
        env_file = tmp_path / "empty.env"
        env_file.write_text("")
    services = rendered(env_file, profiles, AIRFLOW3_FILES)["services"]
    assert {"airflow-webserver", "airflow-triggerer"}.isdisjoint(services)
    assert set(AIRFLOW3_SERVICES) <= set(services)
    for name, service in services.items():
        needs = set(service.get("depends_on") or {})
        assert needs <= set(services), f"{name} ({profiles}) depends on {needs - set(services)}"
        for port in service.get("ports") or []:
            assert port.get("host_ip") == "127.0.0.1", (name, port)
    (api_port,) = services["airflow-apiserver"]["ports"]
    assert (api_port["target"], api_port["published"]) == (8080, "8080")
    assert ("airflow-worker" in services) == ("celery" in profiles)
    env = services["airflow-apiserver"]["environment"]
    # Unset overrides are absent; every secret, the JWT's too, read from the volume.
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert env[key] is None, key
        assert env[f"{key}_CMD"].startswith("cat /opt/airflow/secrets/"), key
    assert env["AIRFLOW__API_AUTH__JWT_SECRET_CMD"] == "cat /opt/airflow/secrets/jwt_secret"


@needs_compose
def test_airflow3_variant_hardened_like_the_stack(env_file: Path) -> None:
    services = rendered(env_file, ("celery", "flower", "debug"), AIRFLOW3_FILES)["services"]
    assert_hardened(services)


@needs_compose
def test_airflow3_variant_settings_processes_and_health(env_file: Path) -> None:
    """The same settings in every Airflow service (2.11's container settings plus Airflow 3's);
    the processes; healthchecks on Airflow 3's endpoints; none of the classic pitfalls."""
    services = rendered(env_file, ("celery", "flower"), AIRFLOW3_FILES)["services"]
    common = services["airflow-scheduler"]["environment"]
    for name in (*AIRFLOW3_SERVICES, "airflow-worker", "flower", "airflow-init"):
        env = services[name]["environment"]
        assert {k: v for k, v in env.items() if k.startswith("AIRFLOW__")} == {
            k: v for k, v in common.items() if k.startswith("AIRFLOW__")
        }, name
    moved = {f"AIRFLOW__{new[0]}__{new[1]}".upper(): old for new, old in MOVED_IN_AIRFLOW3.items()}
    assert {k for k in common if k.startswith("AIRFLOW__")} == (
        CONTAINER_SETTINGS | AIRFLOW3_SETTINGS | set(moved)
    )
    # Machine callers' tokens: the same lifetime as make run AIRFLOW=3's.
    assert common["AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME"] == str(JWT_EXPIRATION_SECONDS)
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(PROJECT_DIR / "airflow.cfg")
    for name, old in moved.items():
        assert common[name] == cfg.get(*old), name
    # The auth manager stays airflow.cfg's (the project's FAB subclass serves both versions).
    assert "AIRFLOW__CORE__AUTH_MANAGER" not in common
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://airflow-apiserver:8080/execution/"
    )
    commands = {name: services[name]["command"] for name in AIRFLOW3_SERVICES}
    assert commands == {
        "airflow-apiserver": ["api-server"],
        "airflow-scheduler": ["scheduler"],
        "airflow-dag-processor": ["dag-processor"],
    }
    health = {name: services[name]["healthcheck"]["test"] for name in AIRFLOW3_SERVICES}
    assert health["airflow-apiserver"][-1] == "http://localhost:8080/api/v2/monitor/health"
    assert health["airflow-scheduler"][-1] == "http://localhost:8974/health"
    assert health["airflow-dag-processor"][-1] == "dag-processor"
    every_value = json.dumps(services)
    for forbidden in ("AUTH_BACKEND", "DAGS_ARE_PAUSED", "LOAD_EXAMPLES", "_PIP_ADDITIONAL"):
        assert forbidden not in every_value
    # Only airflow-init builds (one image, one tag), as in the 2.11 file.
    assert [name for name, s in services.items() if "build" in s] == ["airflow-init"]


@needs_compose
def test_airflow3_variant_keeps_its_own_metadata_database_and_logs(env_file: Path) -> None:
    """Switching versions never migrates one version's database with the other's code: the
    variant's metadata database and task logs are other volumes; warehouse and secrets shared."""

    def volumes(files: tuple[Path, ...]) -> dict[tuple[str, str], str]:
        services = rendered(env_file, (), files)["services"]
        return {
            (name, mount["target"]): mount["source"]
            for name, service in services.items()
            for mount in service.get("volumes") or []
            if mount["type"] == "volume"
        }

    two, three = volumes((COMPOSE_FILE,)), volumes(AIRFLOW3_FILES)
    data = ("postgres", "/var/lib/postgresql/data")
    logs = ("airflow-scheduler", "/opt/airflow/logs")
    assert (two[data], three[data]) == ("postgres-db-volume", "postgres-db-volume-airflow3")
    assert (two[logs], three[logs]) == ("airflow-logs", "airflow-logs-airflow3")
    assert {v for v in three.values()} == {
        "postgres-db-volume-airflow3", "airflow-logs-airflow3", "airflow-secrets",
        "warehouse-db-volume",
    }  # fmt: skip


@needs_compose
def test_airflow3_image_agrees_with_its_lock(env_file: Path) -> None:
    """The variant's base image is apache/airflow:<the lock's apache-airflow>-python<the lock's
    --python-version>, built from the one Dockerfile with requirements-airflow3.lock; the
    project image is tagged with that version; every service runs it."""
    lock = AIRFLOW3_LOCK.read_text()
    (version,) = re.findall(r"^apache-airflow==(\S+)$", lock, flags=re.MULTILINE)
    (header,) = re.findall(r"^#\s+uv pip compile .*$", lock, flags=re.MULTILINE)
    (python,) = re.findall(r"--python-version (\S+)", header)
    assert version.startswith("3.")
    empty = env_file.parent / "empty-for-image.env"
    empty.write_text("")
    services = rendered(empty, (), AIRFLOW3_FILES)["services"]
    build = services["airflow-init"]["build"]
    assert build["dockerfile"] == "Dockerfile"
    assert build["args"] == {
        "AIRFLOW_BASE_IMAGE": f"apache/airflow:{version}-python{python}",
        "AIRFLOW_LOCK": AIRFLOW3_LOCK.name,
    }
    assert f"${{AIRFLOW3_BASE_IMAGE:-apache/airflow:{version}-python{python}}}" in (
        AIRFLOW3_FILE.read_text()
    )
    images = {s["image"] for n, s in services.items() if n not in ("postgres", "warehouse-db")}
    assert images == {f"rest-trigger-airflow:{version}"}
    # The Dockerfile copies the lock the build arg names and checks the installed version.
    dockerfile = DOCKERFILE.read_text()
    assert "COPY --chown=airflow:0 ${AIRFLOW_LOCK} /tmp/requirements.lock" in dockerfile
    assert 'if [ "${installed}" != "${AIRFLOW_VERSION}" ]' in dockerfile
