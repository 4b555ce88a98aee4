"""Stopping `make run` always completes: a supervisor's SIGTERM to its process group (which GNU
make forwards, so the launcher gets it twice), more signals while it stops, and Ctrl-C pressed
twice. Afterwards no process of the stack is left, PostgreSQL included, and every port is free."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from rest_trigger_local.ports import port_is_free
from rest_trigger_local.settings import PROJECT_DIR
from tests.support.harness import (
    PORTS,
    STOP_TIMEOUT,
    Stack,
    alive,
    open_temp_folder,
    pg_data_dir,
)

pytestmark = pytest.mark.e2e


class MakeRun(Stack):
    """`make run` itself (make, then the launcher), in a process group of its own as a
    supervisor or a terminal starts it."""

    def stack_processes(self) -> list[psutil.Process]:
        """make, the launcher, Airflow's processes and PostgreSQL's postmaster."""
        family = [psutil.Process(self.process.pid)]
        family += family[0].children(recursive=True)
        pid_file = pg_data_dir(self.state_dir) / "postmaster.pid"
        family.append(psutil.Process(int(pid_file.read_text().split()[0])))
        return family


def start_make_run() -> MakeRun:
    return MakeRun.start(
        {"DEMO_ROWS": "20000"},
        state_dir=open_temp_folder("rest-trigger-test-make-run-"),
        command=["make", "--no-print-directory", "-C", str(PROJECT_DIR), "run"],
        new_session=True,
    )


def assert_everything_stopped(run: MakeRun, family: list[psutil.Process]) -> None:
    try:
        run.process.wait(timeout=STOP_TIMEOUT)
    finally:
        left = [p for p in family if alive(p)]
        for process in left:  # never leave them to the next test, even when this one failed
            process.kill()
    assert left == [], f"left running: {[' '.join(p.cmdline()[:3]) for p in left]}"
    assert "[make run] stopped" in run.log_text()
    assert not (pg_data_dir(run.state_dir) / "postmaster.pid").exists()
    busy = [
        f"{name}={run.env[name]}"
        for name in PORTS
        if not port_is_free("127.0.0.1", int(run.env[name]))
    ]
    assert busy == []


def test_sigterm_to_the_process_group_then_more_signals_while_stopping() -> None:
    run = start_make_run()
    family = run.stack_processes()
    # make forwards it, so the launcher gets it twice (often as one: a signal that arrives
    # while the same one is pending is merged).
    os.killpg(run.process.pid, signal.SIGTERM)
    run.wait_for_output("[make run] stopping", 30)
    # A supervisor that loses patience: more signals while it stops. From the third on they
    # hurry the Airflow processes along; PostgreSQL is still stopped, cleanly.
    os.killpg(run.process.pid, signal.SIGTERM)
    run.wait_for_output("[make run] already stopping", 30)
    os.killpg(run.process.pid, signal.SIGINT)
    assert_everything_stopped(run, family)
    assert "hurrying" in run.log_text()


def test_ctrl_c_twice() -> None:
    run = start_make_run()
    family = run.stack_processes()
    # A terminal's Ctrl-C signals the whole foreground process group: make and the launcher.
    os.killpg(run.process.pid, signal.SIGINT)
    run.wait_for_output("[make run] stopping", 30)
    os.killpg(run.process.pid, signal.SIGINT)
    assert_everything_stopped(run, family)
    assert "already stopping (SIGINT again" in run.log_text()
    assert "hurrying" not in run.log_text()
