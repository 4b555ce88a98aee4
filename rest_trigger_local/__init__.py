"""Local, Docker-free stand-ins for the production pieces: an embedded PostgreSQL that plays
Airflow's metadata database and the Redshift warehouse, a wire relay that makes it reachable by
``redshift_connector``, and the launcher behind ``make run``; the harness that starts that
launcher for the tests and the benchmark (harness.py) and the DAG-parse probe both use
(parse_probe.py)."""
