"""What the tests share: the real PostgreSQL and Airflow stack fixtures, known warehouse rows,
the compose driver, a fresh-interpreter probe, the CLI runner and a hand-moved clock."""
