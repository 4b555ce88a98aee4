"""The embedded PostgreSQL 16 (from the ``pgserver`` wheel): one server on 127.0.0.1 holding
Airflow's metadata database and the local warehouse.

Logins use md5 because redshift_connector cannot complete a SCRAM-SHA-256 exchange. PostgreSQL
refuses to run as root, so as root the server runs as the unprivileged user ``pgserver`` (the
wheel's own convention).
"""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rest_trigger_local.secret_files import write_new_secret

SUPERUSER = "postgres"


def _bin(name: str) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def run_as(self) -> str | None:
        return "pgserver" if os.geteuid() == 0 else None

    @property
    def password_file(self) -> Path:
        return self.data_dir.parent / "postgres-superuser.password"

    @property
    def superuser_password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args), user=self.run_as, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip()}")
        return result

    def _prepare_root(self) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists("pgserver")
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        entry = pwd.getpwnam("pgserver")
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def init(self) -> bool:
        """Create the cluster once. Returns True when it was created now."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if not self.password_file.exists():
            write_new_secret(self.password_file, secrets.token_urlsafe(24) + "\n")
        if self.run_as:
            self._prepare_root()
        pwfile = self.data_dir.parent / ".initdb.password"  # initdb wants an empty data dir
        pwfile.unlink(missing_ok=True)  # a crashed init's; never written through
        write_new_secret(pwfile, self.superuser_password + "\n")
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            self._run(
                _bin("initdb"),
                "-D", str(self.data_dir),
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
        # No cluster yet means nothing runs; asking pg_ctl would run it as a user init() has
        # not created yet (on a fresh machine, as root).
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        return (
            self._run(_bin("pg_ctl"), "-D", str(self.data_dir), "status", check=False).returncode
            == 0
        )

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
            _bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
            "-o", options, "-w", "-t", "60", "start", check=False,
        )  # fmt: skip
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(
                f"embedded PostgreSQL did not start: {result.stderr.strip()}\n{tail}"
            )

    def stop(self) -> None:
        if self.is_running():
            self._run(
                _bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop", check=False
            )

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
