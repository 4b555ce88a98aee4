"""Task logs: a task try's whole log as text, and what a failed task's log says (its one-line
reason and its last lines). Part of ``RestTriggerClient``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rest_trigger_client.errors import HttpError, RestTriggerError
from rest_trigger_client.results import TaskFailure, TaskStatus

if TYPE_CHECKING:
    from rest_trigger_client.transport import Transport

LOG_PATH = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}"
# "airflow.exceptions.AirflowFailException: invalid conf: ..." - a traceback's last line.
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Exception|Error|Exit)\b: .+$")
_ERROR_RECORD = re.compile(r"\bERROR - (.+)$")


class LogsMixin:
    """Reading task logs; ``RestTriggerClient`` provides the attributes below."""

    transport: Transport
    dag_id: str

    def task_log(self, run_id: str, task_id: str, try_number: int) -> str:
        """The task try's whole log as text: /api/v1's text/plain form, or /api/v2's structured
        records as lines (api_version.py)."""
        path = LOG_PATH.format(
            dag_id=self.dag_id,
            dag_run_id=run_id,
            task_id=task_id,
            task_try_number=max(1, try_number),
        )
        version = self.transport.version
        try:
            answer = self.transport.send(
                "GET log", "GET", path, params={"full_content": "true"}, accept=version.log_accept
            )
        except HttpError as exc:
            raise self.transport.error(exc, f"the log of {task_id} in run {run_id!r}") from None
        return version.log_text(answer)

    def _failure(self, run_id: str, task: TaskStatus, log_lines: int) -> TaskFailure:
        try:
            log = self.task_log(run_id, task.task_id, task.try_number)
        except RestTriggerError as exc:
            return TaskFailure(task.task_id, task.try_number, f"log unavailable: {exc}", "")
        reason = failure_reason(log)
        return TaskFailure(task.task_id, task.try_number, reason, log_tail(log, log_lines))


def failure_reason(log: str) -> str:
    """The most specific one-line reason in a task log: the last exception line of a traceback,
    else the last ERROR record, else a pointer to the log."""
    lines = [line.rstrip() for line in log.splitlines()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line.strip()):
            name, _, message = line.strip().partition(": ")
            return f"{name.rsplit('.', 1)[-1]}: {message}"
    for line in reversed(lines):
        match = _ERROR_RECORD.search(line)
        if match:
            return match.group(1).strip()
    return "no error line in the task log (see the log tail)"


def log_tail(log: str, lines: int) -> str:
    """The last ``lines`` lines that say something (not blank, not the UI's group markers)."""
    kept = [
        line.rstrip()
        for line in log.splitlines()
        if line.strip() and "::group::" not in line and "::endgroup::" not in line
    ]
    return "\n".join(kept[-lines:]) if lines > 0 else ""
