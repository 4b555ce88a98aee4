"""Airflow's local-settings hook: every process forked from an Airflow process gets its own
metadata-DB connections instead of reusing its parent's.

Airflow 2.11 imports ``airflow_local_settings`` (this file: the plugins folder is on ``sys.path``)
while ``airflow.settings`` initialises, before anything forks. Airflow 2.11 itself does not drop
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
the child drops it), so the child opens its own on first use. Nothing is exported: ``__all__``
is empty, so Airflow copies no name from here into ``airflow.settings``.

On Airflow 3 it does nothing: 3.3.2's ``airflow.settings`` registers the same
``engine.dispose(close=False)`` after fork itself (``clean_in_fork``).

Listed in ``plugins/.airflowignore``: the plugin loader would otherwise execute it a second
time as a plugin module (harmless, the hook would just run twice).
"""

from __future__ import annotations

import os
import sys

from airflow import __version__ as _airflow_version

__all__: list[str] = []


def fresh_pool_in_child() -> None:
    """In a just-forked child: forget the parent's pooled connections (never close them)."""
    settings = sys.modules.get("airflow.settings")
    engine = getattr(settings, "engine", None)
    if engine is not None:
        engine.dispose(close=False)


if _airflow_version.startswith("2."):  # 3.x does this itself (see above)
    os.register_at_fork(after_in_child=fresh_pool_in_child)
