"""bench/server_log.py: the API server's tracebacks, for a 5xx the bench saw (no stack)."""

from __future__ import annotations

from pathlib import Path

from bench.server_log import api_log_count, api_tracebacks

WEBSERVER_LOG = """\
[2026-12-02T15:50:01] {app.py:1} INFO - 200 POST /api/v1/dags/rest-trigger/dagRuns
[15:50:02] {x.py:49} ERROR - Unexpected error in POST /api/v1/dags/rest-trigger/dagRuns
Traceback (most recent call last):
  File "dag_run_endpoint.py", line 344, in post_dag_run
sqlalchemy.exc.IntegrityError: duplicate key
[2026-12-02T15:50:03] {app.py:1} INFO - 200 GET /api/v1/dags
"""


def test_the_api_servers_traceback_comes_with_the_request_it_answered(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "webserver.log").write_text(WEBSERVER_LOG)
    (tmp_path / "logs" / "scheduler.log").write_text("Traceback (most recent call last):\n")
    [text] = api_tracebacks(tmp_path, lines_after=3)
    assert text.startswith("webserver.log:")
    assert "Unexpected error in POST /api/v1/dags/rest-trigger/dagRuns" in text
    assert "IntegrityError: duplicate key" in text
    assert "GET /api/v1/dags" not in text  # lines_after bounds it


def test_a_chained_exception_is_one_excerpt(tmp_path: Path) -> None:
    """2.11 logs the database error, then "The above exception was the direct cause", then a
    second traceback: one excerpt, not a second one overlapping it."""
    chained = WEBSERVER_LOG.replace(
        "sqlalchemy.exc.IntegrityError: duplicate key\n",
        "psycopg2.errors.UniqueViolation: duplicate key\n"
        "The above exception was the direct cause of the following exception:\n"
        "Traceback (most recent call last):\n"
        "sqlalchemy.exc.IntegrityError: duplicate key\n",
    )
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "webserver.log").write_text(chained)
    [text] = api_tracebacks(tmp_path)
    assert "UniqueViolation" in text and "IntegrityError" in text


def test_no_log_no_tracebacks(tmp_path: Path) -> None:
    assert api_tracebacks(tmp_path) == []


def test_lines_are_counted_in_the_api_servers_logs_only(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "webserver.log").write_text(WEBSERVER_LOG + WEBSERVER_LOG)
    (tmp_path / "logs" / "scheduler.log").write_text("Unexpected error in POST\n")
    assert api_log_count(tmp_path, "Unexpected error in POST") == 2
    assert api_log_count(tmp_path, "never logged") == 0
