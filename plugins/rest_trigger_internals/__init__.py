"""What leans on Airflow's internals: private names, message texts, fork behaviour.

Each module opens with a ``Depends on:`` header naming exactly what it relies on, and
tests/plugins/internals/ has a test for each that fails when a newer Airflow moves it. Every
piece here is optional (rest_trigger_api/switches.py, or ``[core] auth_manager``): the DAG
runs without any of them.

- ``auth_manager``: FAB's auth manager with triggering separated from editing;
- ``run_id_errors``, ``api_client_errors``, ``dag_fields``: 2.11's HTML 500s for a caller's
  mistakes as 400s;
- ``trigger_race``: 2.11's POST dagRuns tried again when a concurrent one took its run's keys;
- ``api_server_errors``: 2.11's other API errors as a 500 problem, not its (failing) HTML page;
- ``fork_safe_pool``: 2.11's forked children get their own metadata-DB pool;
- ``preload``: the task runtime imported once in the scheduler.
"""
