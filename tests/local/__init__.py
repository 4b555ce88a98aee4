"""rest_trigger_local (`make run`): the launcher's life, signals and restarts, its secrets, the
embedded PostgreSQL as root, the warehouse relay."""
