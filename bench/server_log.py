"""What the stack's API server logged: its tracebacks, so that a run with a server error says
why (the stack's state folder, logs included, is deleted when the bench ends), and how often
a line occurs (the POSTs trigger_race.py ran again)."""

from __future__ import annotations

from pathlib import Path

# The launcher's log of the process that answers the REST API: 2.11, then 3.x.
API_LOGS = ("webserver.log", "api-server.log")
TRACEBACK = "Traceback (most recent call last)"


def api_tracebacks(state_dir: Path, limit: int = 3, lines_after: int = 60) -> list[str]:
    """The last `limit` tracebacks in the API server's log, each with the two lines before it
    (the request it was answering) and up to `lines_after` lines of it. A traceback that starts
    inside the previous one's excerpt (a chained exception's) is part of that excerpt."""
    found: list[str] = []
    for name in API_LOGS:
        log = state_dir / "logs" / name
        if not log.exists():
            continue
        lines = log.read_text(errors="replace").splitlines()
        end = 0
        for i, line in enumerate(lines):
            if TRACEBACK in line and i >= end:
                end = i + lines_after
                found.append("\n".join([f"{name}:", *lines[max(0, i - 2) : end]]))
    return found[-limit:]


def api_log_count(state_dir: Path, text: str) -> int:
    """How many lines of the API server's log hold ``text``."""
    logs = [state_dir / "logs" / name for name in API_LOGS]
    return sum(
        sum(text in line for line in log.read_text(errors="replace").splitlines())
        for log in logs
        if log.exists()
    )
