"""Airflow's local-settings hook (Airflow imports ``airflow_local_settings`` from ``sys.path``,
where the plugins folder is, while ``airflow.settings`` initialises).

It only installs the fork-safe pool when ``[rest_trigger_api] fork_safe_pool`` is on, on 2.11
(rest_trigger_internals/fork_safe_pool.py says why). Nothing is exported: ``__all__`` is empty,
so Airflow copies no name from here into ``airflow.settings``. A team that has its own
``airflow_local_settings.py`` can call ``fork_safe_pool.install()`` from it instead.
"""

from __future__ import annotations

from rest_trigger_api.switches import enabled

from rest_trigger_etl.airflow_compat import is_airflow_2

__all__: list[str] = []

if is_airflow_2() and enabled("fork_safe_pool"):
    from rest_trigger_internals import fork_safe_pool

    fork_safe_pool.install()
