"""A second machine for the worker-host test (tests/compose/test_compose_worker_host.py), made of
what one engine has: addresses, separate compose projects, copied files.

The "LAN": each machine's address is the gateway address of a Docker network the test creates
for it and attaches nothing to. Those addresses are the engine host's own, so a port published
on one (`-p ADDRESS:PORT:PORT`, as docker-compose.expose.yaml and docker-compose.worker.yaml do
with EXPOSE_ADDRESS / WORKER_ADDRESS) is reached from any container by that address and port
only, as from another machine: by neither service name nor network (each project keeps its own
default network), and not through the other's 127.0.0.1 bindings (a container's loopback is
its own).
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.compose_reads import copy_project
from tests.support.compose_stack import ComposeProject, run

# What the worker host needs from the main host's secrets volume (docs/docker.md, "Worker hosts").
SHARED_SECRETS = ("fernet_key", "webserver_secret_key", "redis_password")
WORKER_FILE = "docker-compose.worker.yaml"
EXPOSE_FILE = "docker-compose.expose.yaml"


def say(text: str) -> None:
    """The test's report lines (pytest -s shows them), flushed at once: the run is long."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Address:
    """One machine's LAN address: the gateway of an empty network created for it."""

    network: str
    ip: str


def create_address(name: str, env: dict[str, str]) -> Address:
    """A network on a free private /24 (retrying on a subnet some other network holds)."""
    last = ""
    for _ in range(20):
        octets = random.randint(100, 250), random.randint(0, 255)
        subnet = ipaddress.ip_network(f"10.{octets[0]}.{octets[1]}.0/24")
        made = subprocess.run(
            ["docker", "network", "create", "--subnet", str(subnet), name],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if made.returncode == 0:
            return Address(name, str(next(subnet.hosts())))
        last = made.stderr
    raise AssertionError(f"no free subnet for {name}: {last}")


def remove_network(name: str, env: dict[str, str]) -> None:
    subprocess.run(["docker", "network", "rm", name], capture_output=True, env=env, check=False)


def port_free_on(ip: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def copy_secrets(main: ComposeProject, target: Path, uid: int, postgres_password: str) -> None:
    """What the operator does before the scp: the shared files out of the main host's secrets
    volume (`docker compose cp` from a container that mounts it) into a directory only the
    worker's user can read, plus postgres_password, the main host's POSTGRES_PASSWORD written
    as a file. No value passes through a command line."""
    target.mkdir(mode=0o700)
    for name in SHARED_SECRETS:  # docs/docker.md's command
        main.compose("cp", f"airflow-webserver:/opt/airflow/secrets/{name}", str(target / name))
    fd = os.open(target / "postgres_password", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(postgres_password)
    for path in [target, *target.iterdir()]:
        os.chown(path, uid, 0)
        path.chmod(0o700 if path.is_dir() else 0o600)


def new_password() -> str:
    return secrets.token_urlsafe(24)


def make_worker_host(
    workdir: Path, label: str, env: dict[str, str], settings: dict[str, str]
) -> ComposeProject:
    """A fresh copy of the project as the worker host's checkout, with its .env (mode 0600)."""
    directory = workdir / f"rest-trigger-{label}"
    directory.mkdir()
    copy_project(directory)
    dotenv = directory / ".env"
    fd = os.open(dotenv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{key}={value}\n" for key, value in settings.items())
    return ComposeProject(directory, dict(env))


def task_instances(api: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    answer = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", auth=api.admin)
    assert answer.status_code == 200, answer.text
    return answer.json()["task_instances"]


def inspect(container: str, env: dict[str, str]) -> dict[str, Any]:
    (found,) = json.loads(run(["docker", "inspect", container], Path.cwd(), env).stdout)
    return found


def wait_until(predicate: Any, timeout: float, interval: float = 0.25) -> float:
    """Seconds until predicate() is true; AssertionError after timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not reached within {timeout:.0f} s")
        time.sleep(interval)
    return time.monotonic() - started
