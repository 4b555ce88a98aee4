"""The compose files, checked where the real run (tests/compose/test_compose_stack.py) cannot reach.

Kept because `make test-compose` does not cover them: the profiles it never starts (flower,
debug) must still be valid and self-contained, with no .env too; `.env` values must win; every
service must be hardened as declared; `.env.example` must document every variable and hold no
secret; `make docker-env` must write the uid owner-only and never overwrite; the
image tag must agree with the lock; the build context must never carry `.env`; and no
environment variable may override airflow.cfg's API auth or pause new DAGs (a failure the real
run would show only as a 403 or a run queued forever, far from its cause). These need Compose
v2's `docker compose config` (no engine needed), or Debian's docker-compose 1.29 for the file.

The Airflow 3 variant's checks are in test_compose_files_airflow3.py; the rendering helpers in
tests/support/compose_config.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rest_trigger_local.settings import PROJECT_DIR
from tests.support.compose_config import (
    AIRFLOW3_FILE,
    AIRFLOW3_LOCK,
    AIRFLOW_SERVICES,
    COMPOSE_FILE,
    CONTAINER_SETTINGS,
    DOCKERFILE,
    ENV_EXAMPLE,
    PROFILE_SETS,
    assert_hardened,
    make_env_file,
    needs_compose,
    read_env_file,
    rendered,
)
from warehouse_standin.connection import ENV_VAR, connection_json


@needs_compose
@pytest.mark.parametrize("profiles", PROFILE_SETS, ids=lambda p: "+".join(p) or "default")
def test_every_profile_is_valid_and_self_contained(
    env_file: Path, profiles: tuple[str, ...]
) -> None:
    services = rendered(env_file, profiles)["services"]
    for name, service in services.items():
        needs = set(service.get("depends_on") or {})
        assert needs <= set(services), f"{name} ({profiles}) depends on {needs - set(services)}"
        for port in service.get("ports") or []:
            assert port.get("host_ip", "127.0.0.1") == "127.0.0.1", (name, port)
    assert ("airflow-worker" in services) == ("celery" in profiles)


@needs_compose
@pytest.mark.parametrize("profiles", PROFILE_SETS, ids=lambda p: "+".join(p) or "default")
def test_without_env_file_every_profile_is_valid(tmp_path: Path, profiles: tuple[str, ...]) -> None:
    """No .env: the secrets come from airflow-init's volume, the connection from its default."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    services = rendered(empty, profiles)["services"]
    env = services["airflow-webserver"]["environment"]
    # Unset overrides are absent (an empty FERNET_KEY would switch encryption off), the _CMDs read
    # the volume, and the default connection is the local stand-in.
    for name in ("FERNET_KEY", "SECRET_KEY", "BROKER_URL", "FLOWER_BASIC_AUTH"):
        (key,) = [k for k in env if k.endswith(f"__{name}")]
        assert env[key] is None, key
        assert env[f"{key}_CMD"].startswith("cat /opt/airflow/secrets/"), key
    assert json.loads(env["AIRFLOW_CONN_REDSHIFT_DEFAULT"])["host"] == "warehouse"


@needs_compose
def test_env_file_values_win(tmp_path: Path) -> None:
    path = tmp_path / "override.env"
    path.write_text("AIRFLOW__CORE__FERNET_KEY=from-env-file\nAIRFLOW_CONN_REDSHIFT_DEFAULT=x\n")
    env = rendered(path)["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == "from-env-file"
    assert env["AIRFLOW_CONN_REDSHIFT_DEFAULT"] == "x"


@needs_compose
@pytest.mark.parametrize("profiles", [("celery", "flower", "debug")], ids=["all"])
def test_every_service_hardened(env_file: Path, profiles: tuple[str, ...]) -> None:
    """no-new-privileges and no capability everywhere; only airflow-init runs as root, with the
    three capabilities its volume hand-over uses. (The real run checks the running containers.)"""
    services = rendered(env_file, profiles)["services"]
    assert_hardened(services)


@needs_compose
def test_airflow_services_get_only_container_differences(env_file: Path) -> None:
    services = rendered(env_file, ("celery", "flower"))["services"]
    common = services["airflow-scheduler"]["environment"]
    for name in (*AIRFLOW_SERVICES, "airflow-worker", "flower"):
        env = {k: v for k, v in services[name]["environment"].items() if k != "DUMB_INIT_SETSID"}
        assert env == common, name
    assert {k for k in common if k.startswith("AIRFLOW__")} == CONTAINER_SETTINGS
    # The classic compose pitfalls: an env var overriding airflow.cfg's API auth (401/403),
    # paused-at-creation DAGs (runs queued forever), example DAGs, runtime pip installs.
    every_value = json.dumps(services)
    for forbidden in ("AIRFLOW__API__", "DAGS_ARE_PAUSED", "LOAD_EXAMPLES", "_PIP_ADDITIONAL"):
        assert forbidden not in every_value
    # Every image name is a variable defaulting to the official image.
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"^\s+image:\s+[^$\s]", text, flags=re.M)


def test_env_example_lists_every_variable_and_no_secret() -> None:
    text = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    used = {
        name
        for path in (COMPOSE_FILE, AIRFLOW3_FILE)
        for name in re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", path.read_text())
    }
    assert used <= documented, used - documented
    values = read_env_file(ENV_EXAMPLE)
    # No secret in it: the keys are commented out (generated by airflow-init unless set).
    for name in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__WEBSERVER__SECRET_KEY"):
        assert name not in values and re.search(rf"^# {name}=$", text, flags=re.M), name
    # The compose file's default connection is warehouse_standin/connection.py's, with the
    # stand-in's local-only login .env.example documents.
    default = connection_json(
        "warehouse", 5439, values["WAREHOUSE_DB"], values["WAREHOUSE_USER"],
        values["WAREHOUSE_PASSWORD"],
    )  # fmt: skip
    assert f"${{{ENV_VAR}:-{default}}}" in COMPOSE_FILE.read_text()
    tracked = subprocess.run(
        ["git", "ls-files", ".env"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


def test_make_docker_env_writes_the_uid_owner_only_and_never_overwrites(tmp_path: Path) -> None:
    path = make_env_file(tmp_path)
    values = read_env_file(path)
    assert values["AIRFLOW_UID"] == ("50000" if os.getuid() == 0 else str(os.getuid()))
    assert path.stat().st_mode & 0o077 == 0
    assert path.read_text() == ENV_EXAMPLE.read_text().replace(
        "AIRFLOW_UID=50000", f"AIRFLOW_UID={values['AIRFLOW_UID']}"
    )
    path.write_text(path.read_text() + "AIRFLOW_PORT=9999\n")
    before = path.read_text()
    make_env_file(tmp_path)
    assert path.read_text() == before


def test_image_versions_agree_with_the_lock() -> None:
    dockerfile = DOCKERFILE.read_text()
    (image,) = re.findall(r"^ARG AIRFLOW_BASE_IMAGE=(\S+)", dockerfile, flags=re.MULTILINE)
    assert re.search(r"^FROM \$\{AIRFLOW_BASE_IMAGE\}$", dockerfile, flags=re.MULTILINE)
    match = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", image)
    assert match, f"{image} is not a pinned apache/airflow:<version>-python<x.y> tag"
    airflow_version, python_version = match.groups()
    # The compose file's default is the same image.
    assert f"${{AIRFLOW_BASE_IMAGE:-{image}}}" in COMPOSE_FILE.read_text()
    lock = (PROJECT_DIR / "requirements.lock").read_text()
    assert re.search(rf"^apache-airflow=={re.escape(airflow_version)}$", lock, flags=re.MULTILINE)
    (header,) = re.findall(r"^#\s+uv pip compile .*$", lock, flags=re.MULTILINE)
    assert f"--python-version {python_version}" in header
    from importlib.metadata import version

    assert version("apache-airflow") == airflow_version
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == python_version
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
    # ${AIRFLOW_LOCK}: either lock, by the build arg (docker-compose.airflow3.yaml names the other).
    copied = (copied - {"${AIRFLOW_LOCK}"}) | {"requirements.lock", AIRFLOW3_LOCK.name}
    assert {c.rstrip("/") for c in copied} == allowed
    for path in allowed:
        assert (PROJECT_DIR / path).exists(), path
    assert not allowed & {".env", ".local", ".venv", ".git"}
