"""Stopping `make run` always completes: a supervisor's SIGTERM to its process group (which GNU
make forwards, so the launcher gets it twice), more signals while it stops, and Ctrl-C pressed
twice. Afterwards no process of the stack is left, PostgreSQL included, and every port is free."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from rest_trigger_local.ports import port_is_free
from tests.fixtures.airflow_stack import (
    PROJECT_DIR,
    STARTUP_TIMEOUT,
    _alive,
    _clean_env,
    pg_data_dir,
)
from tests.fixtures.databases import free_port, open_temp_folder

pytestmark = pytest.mark.e2e

PORTS = ("AIRFLOW_PORT", "LOCAL_PG_PORT", "WAREHOUSE_PORT", "AIRFLOW_LOG_SERVER_PORT")
STOP_TIMEOUT = 120  # the launcher's grace period (20 s) and PostgreSQL's fast stop, with room


@dataclass
class MakeRun:
    process: subprocess.Popen[bytes]
    state: Path
    ports: dict[str, int]
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for(self, marker: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.text():
            assert self.process.poll() is None, f"make run exited:\n{self.text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {marker!r} in:\n{self.text()[-3000:]}"
            time.sleep(0.2)

    def stack_processes(self) -> list[psutil.Process]:
        """make, the launcher, Airflow's processes and PostgreSQL's postmaster."""
        family = [psutil.Process(self.process.pid)]
        family += family[0].children(recursive=True)
        pid_file = pg_data_dir(self.state) / "postmaster.pid"
        family.append(psutil.Process(int(pid_file.read_text().split()[0])))
        return family


def start_make_run() -> MakeRun:
    state = open_temp_folder("rest-trigger-test-make-run-")
    ports = {name: free_port() for name in PORTS}
    env = _clean_env(
        REST_TRIGGER_STATE_DIR=str(state),
        DEMO_ROWS="20000",
        **{k: str(v) for k, v in ports.items()},
    )
    output = state / "make-run.out"
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(PROJECT_DIR), "run"],
        env=env, stdout=output.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a supervisor or a terminal gives it
    )  # fmt: skip
    run = MakeRun(process, state, ports, output)
    try:
        run.wait_for("ready in", STARTUP_TIMEOUT)
    except AssertionError:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT)
        raise
    return run


def assert_everything_stopped(run: MakeRun, family: list[psutil.Process]) -> None:
    try:
        run.process.wait(timeout=STOP_TIMEOUT)
    finally:
        left = [p for p in family if _alive(p)]
        for process in left:  # never leave them to the next test, even when this one failed
            process.kill()
    assert left == [], f"left running: {[' '.join(p.cmdline()[:3]) for p in left]}"
    assert "[make run] stopped" in run.text()
    assert not (pg_data_dir(run.state) / "postmaster.pid").exists()
    busy = [
        f"{name}={port}" for name, port in run.ports.items() if not port_is_free("127.0.0.1", port)
    ]
    assert busy == []


def test_sigterm_to_the_process_group_then_more_signals_while_stopping() -> None:
    run = start_make_run()
    family = run.stack_processes()
    # make forwards it, so the launcher gets it twice (often as one: a signal that arrives
    # while the same one is pending is merged).
    os.killpg(run.process.pid, signal.SIGTERM)
    run.wait_for("[make run] stopping", 30)
    # A supervisor that loses patience: more signals while it stops. From the third on they
    # hurry the Airflow processes along; PostgreSQL is still stopped, cleanly.
    os.killpg(run.process.pid, signal.SIGTERM)
    run.wait_for("[make run] already stopping", 30)
    os.killpg(run.process.pid, signal.SIGINT)
    assert_everything_stopped(run, family)
    assert "hurrying" in run.text()


def test_ctrl_c_twice() -> None:
    run = start_make_run()
    family = run.stack_processes()
    # A terminal's Ctrl-C signals the whole foreground process group: make and the launcher.
    os.killpg(run.process.pid, signal.SIGINT)
    run.wait_for("[make run] stopping", 30)
    os.killpg(run.process.pid, signal.SIGINT)
    assert_everything_stopped(run, family)
    assert "already stopping (SIGINT again" in run.text()
    assert "hurrying" not in run.text()
