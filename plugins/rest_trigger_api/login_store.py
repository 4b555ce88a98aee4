"""Where the login throttle keeps what every webserver / api-server worker must agree on: two small
tables in Airflow's own metadata database, created by the plugin on first use.

Why the metadata database and not a store of its own (Redis, a file, flask-limiter's storage):
it is the one store every process of both versions already reaches (2.11's gunicorn workers,
3.x's uvicorn workers, on one machine or several), it survives a restart, and FAB's password
check that the throttle stands in front of reads the same database anyway. A failed login costs
one small INSERT beside the UPDATE of ``ab_user.fail_login_count`` FAB makes.

- ``rest_trigger_login_failures``: one row per failed login (kind ``user`` or ``address``, the
  key, the wall-clock time). Rows older than the window are deleted as failures are written,
  and a key keeps no more rows than its limit needs, so a flood cannot grow it.
- ``rest_trigger_known_logins``: logins that passed the password check, as keyed digests
  (verified_logins.KnownLogins says what that trades), each with its expiry.

The tables are Airflow's neighbours, not Airflow's: no migration of Airflow's knows them, and
``airflow db reset`` leaves them. ``create_all(checkfirst=True)`` makes creating them
idempotent; two workers creating them at the same moment is caught and checked again.

Times are ``time.time()``: the processes share no monotonic clock. Hosts whose clocks differ by
seconds shift a 300 s window by those seconds (Airflow's own JWTs assume synchronised clocks).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, inspect
from sqlalchemy.exc import DatabaseError

metadata = MetaData()

failures = Table(
    "rest_trigger_login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(256), nullable=False),
    Column("failed_at", Float(precision=53), nullable=False),
    Index("rest_trigger_login_failures_key", "kind", "key", "failed_at"),
    Index("rest_trigger_login_failures_at", "failed_at"),
)

known_logins = Table(
    "rest_trigger_known_logins",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("expires_at", Float(precision=53), nullable=False),
)

# Keys longer than the column are cut: a username or address that long is not a caller's.
MAX_KEY_LENGTH = 256

# The engines whose tables this process has made sure of.
_created: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


def ensure_tables(engine: Any) -> None:
    """Create the tables if they are missing; once per engine per process."""
    if engine in _created:
        return
    with _lock:
        if engine in _created:
            return
        try:
            metadata.create_all(engine, checkfirst=True)
        except DatabaseError:
            # Another worker created them between our check and our CREATE: fine if they are
            # there now; anything else is a real error.
            present = set(inspect(engine).get_table_names())
            if not {table.name for table in metadata.sorted_tables} <= present:
                raise
        _created.add(engine)


def airflow_engine() -> Any:
    """The engine of Airflow's metadata database in this process (2.11 and 3.x alike)."""
    from airflow import settings

    if settings.engine is None:  # a process that has not set up the ORM yet
        settings.configure_orm()
    return settings.engine
