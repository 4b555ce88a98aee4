"""Every process forked from an Airflow 2.11 process gets its own metadata-DB connections
instead of reusing its parent's (switch ``fork_safe_pool``; installed by
plugins/airflow_local_settings.py).

Depends on: the module attribute ``airflow.settings.engine`` (the metadata DB's SQLAlchemy
engine) and on Airflow 2.11 importing ``airflow_local_settings`` while ``airflow.settings``
initialises, before anything forks. ``install()`` fails loudly if ``airflow.settings`` has no
``engine`` by then. Guarded by tests/plugins/internals/test_fork_safe_pool.py.

Airflow 2.11 itself does not drop
the SQLAlchemy pool in forked children (Airflow 3 does, as SQLAlchemy's docs ask), so a child
that uses the ORM checks out a pooled connection its parent also uses: two processes on one
PostgreSQL socket, each able to read the answer to the other's query. Seen in the compose
stack: the scheduler forks its health-check server (``[scheduler] enable_health_check``, which
the scheduler container's healthcheck asks) right after ``airflow scheduler`` wrote its CLI log
row; the server's first ``/health`` query took a pooled connection, the scheduler's next query on
it never got its answer, and the scheduler hung in the middle of its loop (runs stayed queued,
the container went unhealthy; in about one start of the Celery profile in two).

``Engine.dispose(close=False)`` in the child replaces the pool without touching the parent's
connections (psycopg2 does not close a connection from a process other than its creator's when
the child drops it), so the child opens its own on first use.

Not installed on Airflow 3: 3.3.2's ``airflow.settings`` registers the same
``engine.dispose(close=False)`` after fork itself (``clean_in_fork``).
"""

from __future__ import annotations

import os
import sys


def fresh_pool_in_child() -> None:
    """In a just-forked child: forget the parent's pooled connections (never close them)."""
    settings = sys.modules.get("airflow.settings")
    engine = getattr(settings, "engine", None)
    if engine is not None:  # None only in a child forked before the engine was configured
        engine.dispose(close=False)


def install() -> None:
    """Register the hook; refuse to run on an Airflow whose settings no longer declare
    ``engine`` (the hook would then silently do nothing). Local settings are imported before
    ``configure_orm()`` assigns it, so the declaration is what can be checked here."""
    import airflow.settings

    declared = getattr(airflow.settings, "__annotations__", {})
    if "engine" not in declared and not hasattr(airflow.settings, "engine"):
        raise RuntimeError(
            "fork_safe_pool: airflow.settings has no 'engine' on this Airflow; turn the "
            "[rest_trigger_api] fork_safe_pool switch off or update the project"
        )
    os.register_at_fork(after_in_child=fresh_pool_in_child)
