"""Stock Airflow in an empty AIRFLOW_HOME, with the product folders copied in: what a data team
that already runs Airflow does with this project (docs/deploy-existing-airflow.md).

`airflow standalone` from a project venv, Airflow's own generated airflow.cfg, and an
environment with none of the project's settings: every AIRFLOW* and REST_TRIGGER_* variable of
this session is dropped. What the child gets on top is port plumbing (free ports, so that it
can run beside other stacks on this machine), the warehouse connection (the only thing the
project provides) and the one auth setting the article asks for.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from rest_trigger_local.settings import PROJECT_DIR
from tests.support.harness import env_without_airflow
from warehouse_standin.connection import connection_json

PRODUCT = ("dags", "include", "plugins")
# Where each product folder goes, relative to AIRFLOW_HOME. Astro: the project root is
# AIRFLOW_HOME (/usr/local/airflow) with dags/, include/, plugins/. MWAA: dags/ is synced from
# S3 and plugins.zip unpacked into plugins/; there is no include/, so it goes under dags/.
LAYOUTS: dict[str, dict[str, str]] = {
    "astro": {"dags": "dags", "include": "include", "plugins": "plugins"},
    "mwaa": {"dags": "dags", "include": "dags/include", "plugins": "plugins"},
}
PLUGIN_IMPORT_ERROR = "Failed to import plugin"


def copy_product(home: Path, layout: str) -> None:
    """Copy dags/, include/ and plugins/ (nothing else of the project) into ``home``."""
    for folder in PRODUCT:
        shutil.copytree(
            PROJECT_DIR / folder,
            home / LAYOUTS[layout][folder],
            ignore=shutil.ignore_patterns("__pycache__"),
        )


def child_env(venv: Path, home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without AIRFLOW* (AIRFLOW_HOME, AIRFLOW_CONFIG, AIRFLOW__*:
    tests/conftest.py sets several) and REST_TRIGGER_*, the venv's bin first on PATH (what
    activating it does), AIRFLOW_HOME and ``extra`` on top."""
    env = {k: v for k, v in env_without_airflow().items() if not k.startswith("REST_TRIGGER_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env.update(AIRFLOW_HOME=str(home), **extra)
    return env


def redshift_conn(warehouse: Any) -> str:
    """``redshift_default`` in Airflow's JSON connection form, through the warehouse relay
    (redshift_connector cannot talk to stock PostgreSQL); no TLS locally."""
    return connection_json(
        warehouse.host, warehouse.port, warehouse.database, warehouse.user, warehouse.password
    )


@dataclass
class Standalone:
    """One `airflow standalone`, in a process group of its own (killed as a group)."""

    venv: Path
    home: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0

    @property
    def output(self) -> Path:
        return self.home / "standalone.out"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def airflow(self, *args: str, stdin: str | None = None, timeout: float = 180) -> str:
        """An `airflow` CLI call in the same environment (stdout and stderr; raises on failure)."""
        done = subprocess.run(
            [str(self.venv / "bin" / "airflow"), *args], env=self.env, cwd=self.home,
            input=stdin, capture_output=True, text=True, timeout=timeout,
            start_new_session=True,  # no controlling terminal: getpass reads stdin
        )  # fmt: skip
        text = done.stdout + done.stderr
        if done.returncode:
            raise AssertionError(f"airflow {' '.join(args)} exited {done.returncode}:\n{text}")
        return text

    def start(self) -> None:
        self._t0 = time.monotonic()
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [str(self.venv / "bin" / "airflow"), "standalone"], env=self.env, cwd=self.home,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def mark(self, name: str) -> float:
        self.timings[name] = round(time.monotonic() - self._t0, 1)
        return self.timings[name]

    def wait_for(self, what: str, check: Any, timeout: float, interval: float = 1.0) -> Any:
        """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds or
        when standalone has exited (the caller prints ``diagnostics()``)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(requests.RequestException, OSError, ValueError, KeyError):
                if result := check():
                    return result
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"standalone exited ({self.process.returncode}) while waiting for {what}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout:.0f} s")
            time.sleep(interval)

    def log_files(self) -> list[Path]:
        return [self.output, *sorted(p for p in (self.home / "logs").rglob("*") if p.is_file())]

    def plugin_import_errors(self) -> list[str]:
        return [
            f"{path.relative_to(self.home)}: {line.strip()}"
            for path in self.log_files()
            for line in path.read_text(errors="replace").splitlines()
            if PLUGIN_IMPORT_ERROR in line
        ]

    def task_logs(self, run_id: str) -> str:
        run_dir = self.home / "logs" / "dag_id=rest-trigger" / f"run_id={run_id}"
        parts = [
            f"--- {path.relative_to(self.home)}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(run_dir.rglob("*.log"))
        ]
        return "\n".join(parts) or f"(no task logs under {run_dir})"

    def diagnostics(self, run_id: str | None = None) -> str:
        lines = self.output.read_text(errors="replace").splitlines()
        tail = "\n".join([line for line in lines if "/health" not in line][-80:])
        text = f"--- standalone output (scheduler, webserver/api-server, ...), last lines:\n{tail}"
        scheduler = sorted((self.home / "logs" / "scheduler").rglob("*.log"))
        if scheduler:
            lines = scheduler[-1].read_text(errors="replace").splitlines()[-30:]
            text += f"\n--- {scheduler[-1].relative_to(self.home)}:\n" + "\n".join(lines)
        if run_id:
            text += "\n" + self.task_logs(run_id)
        return text

    def stop(self, timeout: float = 120) -> list[str]:
        """SIGTERM the process group (what a service manager sends), give every process of the
        family ``timeout`` seconds to exit (standalone itself dies at once; its scheduler and
        webserver shut down gracefully, slowly on a loaded machine), SIGKILL what is left and
        return it (and anything of the family that escaped the group)."""
        if self.process is None:
            return []
        try:
            family = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        stopping = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        deadline = stopping + timeout
        while any(_alive(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.5)
        self.timings["stop"] = round(time.monotonic() - stopping, 1)
        killed = [_describe(p) for p in family if _alive(p)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for p in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        return killed


def _describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline()[:3])}"
    except psutil.Error:
        return str(process.pid)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def generated_cfg_settings(home: Path) -> dict[str, str]:
    """``section.key -> value`` of the airflow.cfg Airflow generated (for the printout)."""
    section, found = "", {}
    for line in (home / "airflow.cfg").read_text().splitlines():
        if m := re.match(r"^\[(\w+)\]", line):
            section = m.group(1)
        elif m := re.match(r"^(\w+) = (.*)$", line):
            found[f"{section}.{m.group(1)}"] = m.group(2)
    return found
