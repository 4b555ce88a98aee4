"""plugins/: the ETL (conf checks, SQL files, the load), the API auth plugins, the fork and
preload hooks."""
