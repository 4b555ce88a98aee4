"""Plain, scheduler-free logic behind the ``rest-trigger`` DAG (validation, SQL, load).

It lives in ``plugins/`` because Airflow puts that folder on ``sys.path`` for every component,
and imports nothing heavy at module top: Airflow imports plugin modules at start-up. The project
also installs it as a package (``pyproject.toml``), for the trigger client, which imports its
shared names (``names.py``: the DAG id, task ids, XCom key, a demo conf).
"""
