"""The `rest-trigger` command without a server: its help documents the exit codes, bad
arguments exit 2, and an Airflow that does not answer exits 8 after retrying."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from rest_trigger_client.errors import ExitCode
from rest_trigger_client.results import RunConf
from rest_trigger_client.run_id import RUN_ID_PATTERN, default_run_id
from tests.support.cli import ARGS, client_env, rest_trigger
from tests.support.databases import free_port


def test_help_documents_every_exit_code() -> None:
    result = rest_trigger("--help")
    assert result.returncode == 0
    for code in ExitCode:
        assert f"\n  {code.value}  " in result.stdout, f"exit code {code.value} is not in --help"
    for variable in ("AIRFLOW_URL", "AIRFLOW_USERNAME", "AIRFLOW_PASSWORD"):
        assert variable in result.stdout


def test_bad_arguments_exit_2_with_one_line() -> None:
    missing = rest_trigger("--gid", "42")
    assert missing.returncode == ExitCode.INVALID_INPUT
    assert missing.stderr.strip().splitlines()[-1].startswith("rest-trigger: error: ")
    assert "--sid" in missing.stderr

    not_a_number = rest_trigger(*ARGS, "--gid", "forty-two")
    assert not_a_number.returncode == ExitCode.INVALID_INPUT
    assert "invalid int value: 'forty-two'" in not_a_number.stderr

    # Refused before any request: a closed port would otherwise give exit 8.
    url = f"http://127.0.0.1:{free_port()}"
    bad_id = rest_trigger(*ARGS, "--run-id", "no spaces; please", "--url", url)
    assert bad_id.returncode == ExitCode.INVALID_INPUT
    assert bad_id.stderr.strip() == (
        "rest-trigger: error: invalid run id 'no spaces; please': "
        "use 1-250 characters from A-Z a-z 0-9 _ . ~ : + -"
    )


def test_unreachable_airflow_is_retried_then_exit_8() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = rest_trigger(
        *ARGS, "--wait", "--connect-retries", "2", env=client_env(AIRFLOW_URL=url)
    )
    assert result.returncode == ExitCode.UNREACHABLE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rest-trigger: error: Airflow at {url} is unreachable")
    assert "3 attempts" in lines[0]  # the first try and 2 retries
    assert "Connection refused" in lines[0]
    assert result.stdout == ""


def test_default_run_id_is_derived_from_the_parameters_and_valid() -> None:
    conf = RunConf(42, 7, "2024-01-01", "2024-03-31")
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    run_id = default_run_id(conf, when)
    assert run_id == "api__gid42_sid7_2024-01-01_2024-03-31__20260102T030405.678901Z"
    assert RUN_ID_PATTERN.match(run_id)
    # Whatever a caller types, the derived id stays valid; Airflow judges the dates (400).
    odd = default_run_id(RunConf(1, 2, "1 Jan 2024", "2024/03/31"), when)
    assert RUN_ID_PATTERN.match(odd), odd


def test_runs_as_a_module_too() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rest_trigger_client", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: rest-trigger")
