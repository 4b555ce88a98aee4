"""Plain values the client hands back: the conf it sends, run snapshots while it waits, and the
final result (state, main_etl's summary, the failing task's reason and log tail)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

TERMINAL_STATES = frozenset({"success", "failed"})
# Airflow's stable order of the DAG's tasks, for display; unknown tasks follow, sorted.
TASK_ORDER = ("pusher", "main_etl")
SUMMARY_TASK = "main_etl"


@dataclass(frozen=True)
class RunConf:
    """The run's parameters; Airflow's typed Params check them (HTTP 400 when wrong)."""

    gid: int
    sid: int
    date_start: str  # YYYY-MM-DD
    date_end: str  # YYYY-MM-DD

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TaskStatus:
    task_id: str
    state: str | None  # None until the scheduler has looked at the task
    try_number: int
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    duration: float | None  # seconds, once the task has ended

    def elapsed(self, now: dt.datetime | None = None) -> float | None:
        """Seconds the task has run: its duration once ended, else time since it started."""
        if self.duration is not None and self.end_date is not None:
            return float(self.duration)
        if self.start_date is None:
            return None
        now = now or dt.datetime.now(dt.UTC)
        return max(0.0, (now - self.start_date).total_seconds())


@dataclass(frozen=True)
class RunStatus:
    """One poll's view of the run."""

    run_id: str
    state: str
    conf: dict[str, Any]
    tasks: tuple[TaskStatus, ...]
    elapsed: float  # seconds since the client started waiting

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class TaskFailure:
    task_id: str
    try_number: int
    reason: str  # one line, from the task's log
    log_tail: str


@dataclass(frozen=True)
class RunResult:
    run_id: str
    state: str
    conf: dict[str, Any]
    tasks: tuple[TaskStatus, ...]
    elapsed: float
    attached: bool  # True when the run existed already (409) and the client attached to it
    summary: dict[str, Any] | None = None  # main_etl's return value, on success
    failures: tuple[TaskFailure, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.state == "success"

    @property
    def total(self) -> int | None:
        return None if self.summary is None else self.summary.get("total")

    def as_json(self) -> dict[str, Any]:
        return {
            "dag_run_id": self.run_id,
            "state": self.state,
            "conf": self.conf,
            "attached": self.attached,
            "elapsed_seconds": round(self.elapsed, 1),
            "tasks": {t.task_id: t.state for t in self.tasks},
            "summary": self.summary,
            "failures": [
                {"task_id": f.task_id, "try_number": f.try_number, "reason": f.reason}
                for f in self.failures
            ],
        }


def ordered(tasks: list[TaskStatus]) -> tuple[TaskStatus, ...]:
    def key(task: TaskStatus) -> tuple[int, str]:
        known = task.task_id in TASK_ORDER
        return (TASK_ORDER.index(task.task_id) if known else len(TASK_ORDER), task.task_id)

    return tuple(sorted(tasks, key=key))


# "airflow.exceptions.AirflowFailException: invalid conf: ..." - a traceback's last line.
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Exception|Error|Exit)\b: .+$")
_ERROR_RECORD = re.compile(r"\bERROR - (.+)$")


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
