"""The embedded PostgreSQL started as root on a machine as fresh as a test can make it: its
run-as user does not exist yet, the data folder asked for is private (0700, like /root), and
nothing may run as the user before it exists or change folders the project did not create."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rest_trigger_local import pg_root
from rest_trigger_local.postgres import EmbeddedPostgres
from rest_trigger_local.settings import Settings
from tests.support.databases import free_port, open_temp_folder

pytestmark = pytest.mark.integration

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the root path needs root")


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def delete_user(name: str) -> None:
    if user_exists(name):
        subprocess.run(["userdel", name], check=True, capture_output=True, timeout=60)


@pytest.fixture
def new_user() -> Iterator[str]:
    """A run-as user name that does not exist yet; the user is removed afterwards."""
    name = f"rt-test-{secrets.token_hex(4)}"
    assert not user_exists(name)
    yield name
    delete_user(name)


def modes(path: Path) -> dict[Path, int]:
    """The mode of ``path`` and of every folder above it."""
    return {p: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.parents]}


def query(pg: EmbeddedPostgres) -> str:
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user || ' ' || version()")
            return cur.fetchone()[0]
    finally:
        conn.close()


@root_only
def test_first_start_as_root_with_a_new_user_and_a_private_state_folder(new_user) -> None:
    private = Path(os.path.realpath(tempfile.mkdtemp(prefix="rest-trigger-private-")))
    fallback = open_temp_folder("rest-trigger-test-fallback-")
    before = modes(private)
    assert before[private] == 0o700
    pg = EmbeddedPostgres(private / "pgdata", free_port(), user=new_user, fallback_dir=fallback)
    try:
        # What the launcher asks first (_check_ports): it must not run anything as a user that
        # does not exist; asking creates the user, and there is no cluster yet.
        assert pg.is_running() is False
        entry = pwd.getpwnam(new_user)
        assert pg.init() is True
        pg.start()
        assert pg.is_running()
        assert query(pg).startswith("postgres PostgreSQL 16")

        # The user cannot enter the private folder, so the data lives under the fallback
        # folder, and the state folder says where.
        assert pg.cluster_dir.is_relative_to(fallback)
        assert (private / "pgdata.location").read_text().strip() == str(pg.cluster_dir)
        assert any(str(pg.cluster_dir) in note for note in pg.notes)
        assert pg.cluster_dir.stat().st_uid == entry.pw_uid
        # The server process runs as that user, not as root.
        pid = int((pg.cluster_dir / "postmaster.pid").read_text().split()[0])
        assert Path(f"/proc/{pid}").stat().st_uid == entry.pw_uid
        # No folder the project did not create changed its mode.
        assert modes(private) == before
    finally:
        pg.stop()
    assert not pg.is_running()

    # The user removed (as on a machine where someone deleted it) while the cluster stays: the
    # next start re-creates the user before running pg_ctl, and hands the data to its new uid.
    delete_user(new_user)
    again = EmbeddedPostgres(private / "pgdata", free_port(), user=new_user, fallback_dir=fallback)
    try:
        assert again.is_running() is False
        assert again.cluster_dir == pg.cluster_dir
        assert again.init() is False
        again.start()
        assert query(again).startswith("postgres PostgreSQL 16")
    finally:
        again.stop()
    shutil.rmtree(private)
    shutil.rmtree(fallback)


@root_only
def test_a_state_folder_the_user_can_reach_keeps_the_data(new_user) -> None:
    state = open_temp_folder("rest-trigger-open-")
    fallback = state / "fallback"
    pg = EmbeddedPostgres(state / "pgdata", free_port(), user=new_user, fallback_dir=fallback)
    try:
        pg.init()
        pg.start()
        assert pg.cluster_dir == state / "pgdata"
        assert not (state / "pgdata.location").exists()
        # The data was not moved. (A checkout in a private folder still gets its binaries
        # copied there: test_binaries_in_a_private_venv_are_used_from_a_copy.)
        assert not (fallback / "clusters").exists()
    finally:
        pg.stop()
        shutil.rmtree(state)


@root_only
def test_a_cluster_left_by_a_deleted_state_folder_is_replaced(new_user) -> None:
    """`make clean-state` deletes the state folder (and the superuser password in it), not the
    relocated data: the next start at the same path must begin afresh, not fail to log in."""
    private = Path(os.path.realpath(tempfile.mkdtemp(prefix="rest-trigger-private-")))
    fallback = open_temp_folder("rest-trigger-test-fallback-")
    first = EmbeddedPostgres(private / "pgdata", free_port(), user=new_user, fallback_dir=fallback)
    try:
        first.init()
        first.start()
        first.ensure_role_and_database("stale", "stale", "stale")
    finally:
        first.stop()
    for child in private.iterdir():  # what `make clean-state` does to .local
        child.unlink()
    second = EmbeddedPostgres(private / "pgdata", free_port(), user=new_user, fallback_dir=fallback)
    try:
        assert second.init() is True
        second.start()
        assert any("deleted state" in note for note in second.notes)
        conn = second.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = 'stale'")
            assert cur.fetchone()[0] == 0
        conn.close()
    finally:
        second.stop()
        shutil.rmtree(private)
        shutil.rmtree(fallback)


@pytest.mark.parametrize("name", ["Root Admin", "-rf", "1abc", "a" * 40, "x;y", ""])
def test_a_bad_user_name_is_refused_before_anything_changes(name, tmp_path) -> None:
    env = {"REST_TRIGGER_PG_USER": name, "REST_TRIGGER_STATE_DIR": str(tmp_path / "state")}
    if name == "":  # empty means the default, which is valid
        assert Settings.from_env(env).pg_user == pg_root.DEFAULT_USER
        return
    with pytest.raises(ValueError, match="REST_TRIGGER_PG_USER"):
        Settings.from_env(env)
    assert not (tmp_path / "state").exists()


@root_only
def test_binaries_in_a_private_venv_are_used_from_a_copy(new_user) -> None:
    """A checkout (and its .venv) in a private folder: the user cannot execute the wheel's
    PostgreSQL there, so a copy with the libraries its RPATH names is made, and it runs."""
    import pgserver

    site_packages = Path(pgserver.__file__).parent.parent
    private = Path(os.path.realpath(tempfile.mkdtemp(prefix="rest-trigger-private-venv-")))
    fallback = open_temp_folder("rest-trigger-test-fallback-")
    try:
        for name in ("pgserver/pginstall", "pgserver.libs"):
            shutil.copytree(site_packages / name, private / name, symlinks=True)
        pg_root.ensure_user(new_user)
        installed = private / "pgserver" / "pginstall" / "bin"
        assert not pg_root.can_reach(new_user, installed / "initdb")
        before = modes(installed)
        binaries = pg_root.reachable_binaries(new_user, installed, fallback)
        assert binaries.is_relative_to(fallback)
        version = subprocess.run(
            [str(binaries / "initdb"), "--version"], user=new_user, cwd="/",
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert version.returncode == 0, version.stderr
        assert "16.2" in version.stdout
        # Made once: a second call finds the copy.
        assert pg_root.reachable_binaries(new_user, installed, fallback) == binaries
        assert modes(installed) == before
    finally:
        shutil.rmtree(private)
        shutil.rmtree(fallback)
