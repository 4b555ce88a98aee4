"""`docker compose config` for the static compose checks: the files, the profiles, the settings
the compose files may give Airflow beyond airflow.cfg, and the file rendered with and without a
`.env`, with nothing from the caller's shell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rest_trigger_local.settings import PROJECT_DIR

COMPOSE_FILE = PROJECT_DIR / "docker-compose.yaml"
# The Airflow 3 variant: an override, `-f docker-compose.yaml -f docker-compose.airflow3.yaml`.
AIRFLOW3_FILE = PROJECT_DIR / "docker-compose.airflow3.yaml"
AIRFLOW3_LOCK = PROJECT_DIR / "requirements-airflow3.lock"
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


def compose_config(
    env_file: Path, *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,)
) -> subprocess.CompletedProcess[str]:
    """`config` on these files, with nothing from this shell but PATH and HOME."""
    assert COMPOSE is not None
    clean = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    file_args = [arg for f in files for arg in ("-f", str(f))]
    return subprocess.run(
        [*COMPOSE, "--env-file", str(env_file), *file_args, *args, "config"],
        env=clean, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def rendered(
    env_file: Path, profiles: tuple[str, ...] = (), files: tuple[Path, ...] = (COMPOSE_FILE,)
) -> dict[str, Any]:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    result = compose_config(env_file, *flags, files=files)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def assert_hardened(services: dict[str, Any]) -> None:
    """no-new-privileges and no capability everywhere; only airflow-init runs as root, with the
    three capabilities its volume hand-over uses; no password on a command line."""
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
