"""Secrets on disk and leftover processes, with real files and real processes: files holding
secrets are owner-only from their creation, and reaping after a crash signals only a process
that is still the one recorded."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.secret_files import write_new_secret
from rest_trigger_local import process_records
from rest_trigger_local.postgres import EmbeddedPostgres
from rest_trigger_local.settings import install_secrets


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask():
    """A umask that would leave a plainly created file world-readable and -writable."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_a_secret_file_is_0600_whatever_the_umask(tmp_path, open_umask) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert mode(plain) == 0o666  # what the umask alone gives
    secret = tmp_path / "secret"
    write_new_secret(secret, "s3cret\n")
    assert mode(secret) == 0o600
    assert secret.read_text() == "s3cret\n"


def test_a_secret_is_never_written_through_an_existing_file_or_link(tmp_path) -> None:
    existing = tmp_path / "existing"
    existing.write_text("someone else's")
    existing.chmod(0o644)
    with pytest.raises(FileExistsError):
        write_new_secret(existing, "s3cret")
    assert existing.read_text() == "someone else's"
    target = tmp_path / "target"
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        write_new_secret(link, "s3cret")
    assert not target.exists()


def test_install_secrets_creates_an_owner_only_file_once(tmp_path, open_umask) -> None:
    first = install_secrets(tmp_path)
    assert mode(tmp_path / "secrets.json") == 0o600
    assert install_secrets(tmp_path) == first  # kept, not regenerated


@pytest.mark.integration
def test_initdb_password_files_are_owner_only(tmp_path, open_umask) -> None:
    from rest_trigger_local.ports import free_port

    pg = EmbeddedPostgres(tmp_path / "pgdata", free_port())
    assert pg.init()
    assert mode(pg.password_file) == 0o600
    assert not (tmp_path / ".initdb.password").exists()  # removed after initdb read it
    assert len(pg.superuser_password) >= 24


# -- reaping -------------------------------------------------------------------------------
def sleeper() -> subprocess.Popen[bytes]:
    """A real process leading its own process group, as the launcher starts Airflow's."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
    )


def wait_gone(proc: subprocess.Popen[bytes]) -> int | None:
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return None


def test_reaping_stops_a_recorded_process_that_is_still_the_one_started(tmp_path) -> None:
    proc = sleeper()
    try:
        records = tmp_path / "processes.json"
        process_records.record(records, {"scheduler": proc.pid})
        said: list[str] = []
        process_records.reap(records, said.append)
        assert wait_gone(proc) == -signal.SIGTERM
        assert said == [f"stopped a leftover scheduler (process group {proc.pid})"]
        assert not records.exists()
    finally:
        proc.kill()
        proc.wait()


def test_reaping_never_signals_a_reused_pid(tmp_path) -> None:
    """The record names a pid that now belongs to an unrelated process, started after the
    recorded one (here: after this test run, whose start time stands for the recorded one's):
    its start time differs, so it is left running."""
    earlier_start = process_records.start_time(os.getpid())
    unrelated = sleeper()
    try:
        assert process_records.start_time(unrelated.pid) != earlier_start
        records = tmp_path / "processes.json"
        # What a crashed launcher would have left if the kernel had given `unrelated` the pid
        # of the process it recorded.
        records.write_text(
            f'{{"webserver": {{"pid": {unrelated.pid}, "start_time": {earlier_start}}}}}'
        )
        said: list[str] = []
        process_records.reap(records, said.append)
        assert unrelated.poll() is None
        assert said == []
        # The old format (a bare pid) cannot be verified either: left alone.
        records.write_text(f'{{"webserver": {unrelated.pid}}}')
        process_records.reap(records, said.append)
        assert unrelated.poll() is None
        assert said == []
    finally:
        unrelated.kill()
        unrelated.wait()


def test_start_time_reads_names_with_spaces_and_parentheses(tmp_path) -> None:
    exe = tmp_path / "odd) name ("
    exe.symlink_to(sys.executable)
    proc = subprocess.Popen([str(exe), "-c", "import time; time.sleep(300)"])
    try:
        ticks = process_records.start_time(proc.pid)
        assert ticks is not None and ticks >= process_records.start_time(os.getpid())
    finally:
        proc.kill()
        proc.wait()
    assert process_records.start_time(proc.pid) is None
