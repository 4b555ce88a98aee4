"""The compose files, checked where the real run (tests/test_compose_stack.py) cannot reach.

Kept because `make test-compose` does not cover them: the profiles it never starts (flower,
debug) must still be valid and self-contained, with no .env too; `.env` values must win; every
service must be hardened as declared; `.env.example` must document every variable and hold no
secret; `make docker-env` must write the uid owner-only and never overwrite; the
image tag must agree with the lock; the build context must never carry `.env`; and no
environment variable may override airflow.cfg's API auth or pause new DAGs (a failure the real
run would show only as a 403 or a run queued forever, far from its cause). These need Compose
v2's `docker compose config` (no engine needed), or Debian's docker-compose 1.29 for the file.
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

PROJECT_DIR = Path(__file__).resolve().parents[1]
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


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_env_file(tmp_path_factory.mktemp("compose-env"))


def rendered(
    env_file: Path, profiles: tuple[str, ...] = (), files: tuple[Path, ...] = (COMPOSE_FILE,)
) -> dict[str, Any]:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    result = compose_config(env_file, *flags, files=files)
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
    # ${AIRFLOW_LOCK}: either lock, by the build arg (docker-compose.airflow3.yaml names the other).
    copied = (copied - {"${AIRFLOW_LOCK}"}) | {"requirements.lock", AIRFLOW3_LOCK.name}
    assert {c.rstrip("/") for c in copied} == allowed
    for path in allowed:
        assert (PROJECT_DIR / path).exists(), path
    assert not allowed & {".env", ".local", ".venv", ".git"}


# -- the Airflow 3 variant (docker-compose.airflow3.yaml) ----------------------------------------

AIRFLOW3_FILES = (COMPOSE_FILE, AIRFLOW3_FILE)
# What Airflow 3 runs instead of the webserver and triggerer (and the dag-processor apart).
AIRFLOW3_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor")
# What the variant adds to CONTAINER_SETTINGS (as `make run AIRFLOW=3` does): Airflow 3's own
# names for what 2.11 read elsewhere, the JWT secret, the execution API's URL, one api-server
# worker, a Jinja log file name, FAB's config file, and the options 3.x moved (below).
AIRFLOW3_SETTINGS = {
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API_AUTH__JWT_SECRET_CMD",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API__SECRET_KEY_CMD",
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__WORKERS",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT",
    "AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE",
    "AIRFLOW__FAB__CONFIG_FILE",
}
# Options airflow.cfg sets in their 2.x section that Airflow 3 reads from another: the variant
# sets them under the new name, with airflow.cfg's values.
MOVED_IN_AIRFLOW3 = {
    ("dag_processor", "parsing_processes"): ("scheduler", "parsing_processes"),
    ("dag_processor", "min_file_process_interval"): ("scheduler", "min_file_process_interval"),
    ("fab", "session_lifetime_minutes"): ("webserver", "session_lifetime_minutes"),
    ("fab", "cookie_secure"): ("webserver", "cookie_secure"),
    ("fab", "cookie_samesite"): ("webserver", "cookie_samesite"),
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
