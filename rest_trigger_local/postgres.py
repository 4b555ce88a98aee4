"""The embedded PostgreSQL 16 (from the ``pgserver`` wheel): one server on 127.0.0.1 holding
Airflow's metadata database and the local warehouse.

Logins use md5 because redshift_connector cannot complete a SCRAM-SHA-256 exchange. PostgreSQL
refuses to run as root, so as root the server runs as an unprivileged user
(``REST_TRIGGER_PG_USER``, default ``pgserver``), created before anything runs as it; where that
user cannot reach the data folder asked for, the data lives in a folder it can reach
(``pg_root``), and ``notes`` says where.

A little over 250 lines: one server's life (init, relocate, start, stop, roles), one class;
what running as root needs apart from that is in pg_root.py already.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from deploy.secret_files import write_new_secret
from rest_trigger_local import pg_root

SUPERUSER = "postgres"


def _installed_binaries() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _env_user() -> str:
    return os.environ.get("REST_TRIGGER_PG_USER") or pg_root.DEFAULT_USER


def _env_fallback() -> Path:
    return Path(os.environ.get("REST_TRIGGER_PG_FALLBACK_DIR") or pg_root.DEFAULT_FALLBACK_DIR)


@dataclass
class EmbeddedPostgres:
    data_dir: Path  # where the caller wants the cluster; see cluster_dir for where it is
    port: int
    host: str = "127.0.0.1"
    user: str = field(default_factory=_env_user)  # runs the server when this process is root
    fallback_dir: Path = field(default_factory=_env_fallback)
    notes: list[str] = field(default_factory=list)  # what a caller should tell its user

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.cluster_dir = self.data_dir
        self.bin_dir = _installed_binaries()
        self._prepared = False
        if self.run_as:
            pg_root.check_user_name(self.user)  # a bad name: refused before anything changes

    @property
    def run_as(self) -> str | None:
        return self.user if os.geteuid() == 0 else None

    @property
    def password_file(self) -> Path:
        # Next to the folder asked for (the state folder), readable by this process only.
        return self.data_dir.parent / "postgres-superuser.password"

    @property
    def location_file(self) -> Path:
        """Written where the data was asked for when it lives elsewhere: says where."""
        return self.data_dir.parent / f"{self.data_dir.name}.location"

    @property
    def superuser_password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "server.log"

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self._prepare()  # as root: the user exists before anything runs as it
        result = subprocess.run(
            list(args), user=self.run_as, capture_output=True, text=True, timeout=120,
            cwd="/",  # the user may not be able to enter the caller's working directory
            start_new_session=True,  # a terminal's Ctrl-C must not kill pg_ctl mid-stop
        )  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip()}")
        return result

    # -- as root: the user, binaries and data folder it can reach ------------------------------
    def _prepare(self) -> None:
        if self._prepared or not self.run_as:
            return
        entry = pg_root.ensure_user(self.user)
        self.bin_dir = pg_root.reachable_binaries(
            self.user, _installed_binaries(), self.fallback_dir
        )
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if not pg_root.can_reach(self.user, self.data_dir.parent):
            self._relocate()
        if self.cluster_dir.exists() and self.cluster_dir.stat().st_uid != entry.pw_uid:
            pg_root.chown_tree(self.cluster_dir, entry.pw_uid, entry.pw_gid)
        self._prepared = True

    def _relocate(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            raise pg_root.RootSetupError(
                f"the cluster in {self.data_dir} cannot be reached by user {self.user!r} (it or"
                " a folder above it is private); move it to a folder that user can reach, or"
                " start over with an empty state folder"
            )
        target = pg_root.relocated_data_dir(self.data_dir, self.fallback_dir)
        if target.exists() and not self.location_file.exists():
            # Left by an earlier state folder at this path that has been deleted since
            # (`make clean-state`): its superuser password went with it, so start over.
            self._discard(target)
            self.notes.append(
                f"removed the embedded PostgreSQL data of a deleted state at {target}"
            )
        pg_root.make_folder(target.parent)
        if not pg_root.can_reach(self.user, target.parent):
            raise pg_root.RootSetupError(
                f"user {self.user!r} can reach neither {self.data_dir.parent} nor"
                f" {target.parent}; set REST_TRIGGER_STATE_DIR or REST_TRIGGER_PG_FALLBACK_DIR"
                " to a folder it can reach"
            )
        self.location_file.write_text(f"{target}\n")
        self.cluster_dir = target
        self.notes.append(
            f"user {self.user!r} cannot reach {self.data_dir.parent} (it or a folder above"
            f" it is private), so the embedded PostgreSQL keeps its data in {target}"
            f" (written to {self.location_file})"
        )

    def _discard(self, target: Path) -> None:
        if (target / "postmaster.pid").exists():
            subprocess.run(
                [self._bin("pg_ctl"), "-D", str(target), "-m", "immediate", "-w", "stop"],
                user=self.run_as, capture_output=True, timeout=120, cwd="/",
            )  # fmt: skip
        shutil.rmtree(target.parent)

    # -- the cluster ---------------------------------------------------------------------------
    def init(self) -> bool:
        """Create the cluster once. Returns True when it was created now."""
        self._prepare()
        if (self.cluster_dir / "PG_VERSION").exists():
            return False
        self.cluster_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_dir.chmod(0o700)  # the cluster folder: created here, PostgreSQL's rule
        if not self.password_file.exists():
            write_new_secret(self.password_file, secrets.token_urlsafe(24) + "\n")
        pwfile = self.cluster_dir.parent / ".initdb.password"  # initdb wants an empty data dir
        pwfile.unlink(missing_ok=True)  # a crashed init's; never written through
        write_new_secret(pwfile, self.superuser_password + "\n")
        if self.run_as:
            entry = pg_root.ensure_user(self.user)
            os.chown(self.cluster_dir, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            self._run(
                self._bin("initdb"),
                "-D", str(self.cluster_dir),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=md5",
                "--encoding=UTF8",
                "--no-locale",
                "-c", "password_encryption=md5",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        return True

    def is_running(self) -> bool:
        self._prepare()
        # No cluster yet means nothing runs (and there is nothing to ask pg_ctl about).
        if not (self.cluster_dir / "PG_VERSION").exists():
            return False
        status = self._run(self._bin("pg_ctl"), "-D", str(self.cluster_dir), "status", check=False)
        return status.returncode == 0

    def start(self) -> None:
        if self.is_running():
            return
        options = " ".join(
            [
                f"-p {self.port}",
                f"-c listen_addresses={self.host}",
                "-c unix_socket_directories=''",
                # Airflow (webserver, scheduler, LocalExecutor workers) plus burst callers.
                "-c max_connections=300",
                "-c shared_buffers=256MB",
                # A local stand-in: losing the last few ms of commits on a crash is acceptable,
                # and it makes every Airflow state change cheaper. Never corrupts data.
                "-c synchronous_commit=off",
                "-c log_min_duration_statement=-1",
            ]
        )
        result = self._run(
            self._bin("pg_ctl"), "-D", str(self.cluster_dir), "-l", str(self.log_file),
            "-o", options, "-w", "-t", "60", "start", check=False,
        )  # fmt: skip
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(
                f"embedded PostgreSQL did not start: {result.stderr.strip()}\n{tail}"
            )

    def stop(self) -> None:
        """Stop the server: a fast shutdown (clients disconnected, data written), or if that has
        not finished within 60 s an immediate one. Returns only once it has stopped."""
        if not self.is_running():
            return
        pg_ctl = self._bin("pg_ctl")
        fast = self._run(
            pg_ctl, "-D", str(self.cluster_dir), "-m", "fast", "-w", "-t", "60", "stop", check=False
        )
        if fast.returncode != 0 and self.is_running():
            self._run(pg_ctl, "-D", str(self.cluster_dir), "-m", "immediate", "-w", "stop")

    def connect(self, database: str = "postgres"):
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                return psycopg2.connect(
                    host=self.host, port=self.port, user=SUPERUSER,
                    password=self.superuser_password, dbname=database,
                )  # fmt: skip
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def ensure_role_and_database(self, role: str, password: str, database: str) -> None:
        """Create (or re-password) a login role and a database it owns. Idempotent."""
        from psycopg2 import sql

        conn = self.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if not cur.fetchone():
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(role)
                    )
                )
        conn.close()
