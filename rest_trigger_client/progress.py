"""Live progress while waiting: a block redrawn in place on a terminal, plain lines (one per
change) anywhere else (CI logs, pipes)."""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from rest_trigger_client.results import RunStatus, TaskStatus

_MARKS = {"success": "ok", "failed": "XX", "running": "..", "up_for_retry": "!!"}


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def _task_line(task: TaskStatus, now: dt.datetime) -> str:
    mark = _MARKS.get(task.state or "", "  ")
    state = task.state or "none"
    tries = f" try {task.try_number}" if task.try_number > 1 else ""
    return f"  [{mark}] {task.task_id:<10} {state:<15} {_seconds(task.elapsed(now)):>8}{tries}"


class Progress:
    """Call with each RunStatus; ``close()`` ends the display."""

    def __init__(self, stream: TextIO, live: bool | None = None):
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self._drawn = 0  # lines of the live block on screen
        self._last: tuple[object, ...] | None = None

    def __call__(self, status: RunStatus) -> None:
        if self.live:
            self._redraw(status)
        else:
            self._line(status)

    def _redraw(self, status: RunStatus) -> None:
        now = dt.datetime.now(dt.UTC)
        lines = [f"run {status.run_id}: {status.state}  ({_seconds(status.elapsed)})"]
        lines += [_task_line(task, now) for task in status.tasks]
        out = f"\x1b[{self._drawn}F" if self._drawn else ""  # back to the block's first line
        out += "".join(f"\x1b[2K{line}\n" for line in lines)
        self.stream.write(out)
        self.stream.flush()
        self._drawn = len(lines)

    def _line(self, status: RunStatus) -> None:
        key = (status.state, tuple((t.task_id, t.state, t.try_number) for t in status.tasks))
        if key == self._last:
            return
        self._last = key
        now = dt.datetime.now(dt.UTC)
        tasks = " | ".join(
            f"{t.task_id} {t.state or 'none'}"
            + (f" {_seconds(t.elapsed(now))}" if t.elapsed(now) is not None else "")
            for t in status.tasks
        )
        self.stream.write(
            f"[{status.elapsed:7.1f} s] run {status.state}{' | ' + tasks if tasks else ''}\n"
        )
        self.stream.flush()

    def close(self) -> None:
        self._drawn = 0
        self.stream.flush()
