"""The compose files, checked where the real run (tests/compose/test_compose_stack.py) cannot reach.

Kept because `make test-compose` does not cover them: the profiles it never starts (flower,
debug) must still be valid and self-contained, with no .env too; `.env` values must win; every
service must be hardened as declared; `.env.example` must document every variable and hold no
secret; `make docker-env` must write the uid owner-only and never overwrite; the
image tag must agree with the lock; the build context must never carry `.env`; and no
environment variable may override airflow.cfg's API auth or pause new DAGs (a failure the real
run would show only as a 403 or a run queued forever, far from its cause). These need Compose
v2's `docker compose config` (no engine needed), or Debian's docker-compose 1.29 for the file.

A little over 250 lines because the checks are short and share the helpers that render the file
with and without `.env` (compose_config, rendered); split, both halves would import them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rest_trigger_local.settings import PROJECT_DIR

COMPOSE_FILE = PROJECT_DIR / "docker-compose.yaml"
ENV_EXAMPLE = PROJECT_DIR / ".env.example"
DOCKERFILE = PROJECT_DIR / "Dockerfile"
AIRFLOW_SERVICES = ("airflow-webserver", "airflow-scheduler", "airflow-triggerer")
PROFILE_SETS: list[tuple[str, ...]] = [
    (),
    ("celery",),
    ("flower",),
    ("celery", "flower"),
    ("debug",),
]
# What the compose file may set for Airflow beyond airflow.cfg: hosts, executor, secrets, and
# the two settings a container needs (listen beyond its loopback; the scheduler's /health).
CONTAINER_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__BROKER_URL_CMD",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__FLOWER_BASIC_AUTH",
    "AIRFLOW__CELERY__FLOWER_BASIC_AUTH_CMD",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__CORE__FERNET_KEY_CMD",
    "AIRFLOW__WEBSERVER__SECRET_KEY",
    "AIRFLOW__WEBSERVER__SECRET_KEY_CMD",
    "AIRFLOW__WEBSERVER__WEB_SERVER_HOST",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
}


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


COMPOSE = _compose_command()
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="neither `docker compose` (make docker-engine) nor docker-compose"
)


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'")
    return values


def make_env_file(directory: Path) -> Path:
    """`make docker-env` (optional: the stack needs no .env), writing into ``directory``."""
    path = directory / ".env"
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(PROJECT_DIR), "docker-env", f"ENV_FILE={path}"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return path


def compose_config(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`config` on this file, with nothing from this shell but PATH and HOME."""
    assert COMPOSE is not None
    clean = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return subprocess.run(
        [*COMPOSE, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args, "config"],
        env=clean, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_env_file(tmp_path_factory.mktemp("compose-env"))


def rendered(env_file: Path, profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    result = compose_config(env_file, *flags)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


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
    for name, service in services.items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("cap_drop") == ["ALL"], name
        if name == "airflow-init":
            assert service["user"] == "0:0"
            assert sorted(service["cap_add"]) == ["CHOWN", "SETGID", "SETUID"]
        else:
            assert not service.get("cap_add"), name
            assert service.get("user", "image") not in ("0", "0:0", "root"), name
        assert "--password" not in json.dumps(service), name


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
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used <= documented, used - documented
    values = read_env_file(ENV_EXAMPLE)
    # No secret in it: the keys are commented out (generated by airflow-init unless set).
    for name in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__WEBSERVER__SECRET_KEY"):
        assert name not in values and re.search(rf"^# {name}=$", text, flags=re.M), name
    line = re.search(r"^# AIRFLOW_CONN_REDSHIFT_DEFAULT='(.*)'$", text, flags=re.M)
    assert line, "the local connection line"
    conn = json.loads(line[1])
    assert (conn["host"], conn["port"], conn["extra"]["ssl"]) == ("warehouse", 5439, False)
    assert (conn["schema"], conn["login"], conn["password"]) == (
        values["WAREHOUSE_DB"], values["WAREHOUSE_USER"], values["WAREHOUSE_PASSWORD"],
    )  # fmt: skip
    # The compose file's default connection is the same one.
    assert line[1] in COMPOSE_FILE.read_text()
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
    assert {c.rstrip("/") for c in copied} == allowed
    for path in allowed:
        assert (PROJECT_DIR / path).exists(), path
    assert not allowed & {".env", ".local", ".venv", ".git"}
