"""What the client hands back, and reading a finished run's result from Airflow: the conf it
sends, run snapshots while it waits, XCom values (deserialized, else parsed from their text
form), main_etl's summary, and the final result with the failing tasks' reasons."""

from __future__ import annotations

import ast
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rest_trigger_client.errors import HttpError
from rest_trigger_etl.names import MAIN_ETL, TASK_IDS

if TYPE_CHECKING:
    from rest_trigger_client.transport import Transport

TERMINAL_STATES = frozenset({"success", "failed"})
# Airflow's stable order of the DAG's tasks, for display; unknown tasks follow, sorted.
TASK_ORDER = TASK_IDS
SUMMARY_TASK = MAIN_ETL


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


def read_xcom(
    transport: Transport, dag_id: str, run_id: str, task_id: str, key: str = "return_value"
) -> Any:
    """An XCom entry's value as the task pushed it. Airflow deserializes it when
    ``[api] enable_xcom_deserialize_support`` is on; otherwise (HTTP 400) it is read in its text
    form (a Python repr) and parsed back here (JSON, else a Python literal; unparsable text is
    returned as it is). An HTTP error answer raises HttpError."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
    try:
        entry = transport.send(
            "GET xcomEntry", "GET", path, params={"deserialize": "true", "stringify": "false"}
        ).json()
    except HttpError as exc:
        if exc.status != 400:
            raise
        entry = transport.send("GET xcomEntry", "GET", path).json()
        return parse_text(entry.get("value"))
    return entry.get("value")


def parse_text(value: Any) -> Any:
    """A value in an XCom's text form back as the value: JSON, else a Python literal."""
    if isinstance(value, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                return parse(value)
            except (ValueError, SyntaxError):
                continue
    return value


class ResultsMixin:
    """A finished run's result; ``RestTriggerClient`` provides the attributes below."""

    transport: Transport
    dag_id: str
    _failure: Callable[[str, TaskStatus, int], TaskFailure]  # logs.py

    def result(
        self, status: RunStatus, *, attached: bool = False, log_lines: int = 20
    ) -> RunResult:
        """The final report for a finished run: main_etl's summary, or what failed and why."""
        summary = self.summary(status.run_id) if status.state == "success" else None
        return self._finished(status, summary, attached=attached, log_lines=log_lines)

    def _finished(
        self,
        status: RunStatus,
        summary: dict[str, Any] | None,
        *,
        attached: bool,
        log_lines: int,
    ) -> RunResult:
        """The result with a summary already known (the wait stream brings it along)."""
        failures = tuple(
            self._failure(status.run_id, task, log_lines)
            for task in status.tasks
            if task.state == "failed"
        )
        return RunResult(
            run_id=status.run_id,
            state=status.state,
            conf=status.conf,
            tasks=status.tasks,
            elapsed=status.elapsed,
            attached=attached,
            summary=summary,
            failures=failures,
        )

    def summary(self, run_id: str, task_id: str = SUMMARY_TASK) -> dict[str, Any] | None:
        """main_etl's return value, ``{dag_run_id, gid, sid, date_start, date_end, total}``."""
        try:
            value = read_xcom(self.transport, self.dag_id, run_id, task_id)
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise self.transport.error(exc, f"the summary of run {run_id!r}") from None
        return summary_value(value)


def summary_value(value: Any) -> dict[str, Any] | None:
    """main_etl's XCom value as the summary: a dict, or JSON / Python text of one."""
    value = parse_text(value)  # a deserialized value may be JSON text itself
    return value if isinstance(value, dict) else None
