"""rest_trigger_client: the `rest-trigger` command, its transport, waiting on many runs, and the
client end to end against a real Airflow."""
