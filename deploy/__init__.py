"""Deploy-time helpers: what a deployment runs once or beside Airflow, never inside a task.

``accounts`` (the admin and the caller with its least-privilege role, which ``roles/`` holds as
files ``airflow roles import`` reads; ``create_accounts.sh`` makes both with Airflow's own
commands), ``secret_files``, and
``compose/`` (what only the compose stack runs: its generated secrets, its cheap healthchecks).
"""
