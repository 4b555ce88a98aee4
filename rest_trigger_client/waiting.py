"""Following runs until they end: one poll of a run (its state and its tasks'), ``wait`` for one
run, and ``wait_many``, one run listing per poll for many runs (the listing's logic is
``many.py``). Part of ``RestTriggerClient``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rest_trigger_client.errors import HttpError, WaitTimedOut
from rest_trigger_client.many import (
    LOOKBACK,
    ORDER_BY,
    PAGE_LIMIT,
    Page,
    RunTracker,
    WaitManyProgress,
    WaitManyResult,
    as_utc,
    collect_wanted,
    parse_page,
)
from rest_trigger_client.results import RunResult, RunStatus, TaskStatus, ordered

if TYPE_CHECKING:
    from rest_trigger_client.transport import Transport

ProgressCallback = Callable[[RunStatus], None]
ManyProgressCallback = Callable[[WaitManyProgress], None]


class WaitMixin:
    """Polling; ``RestTriggerClient`` provides the attributes and the methods below."""

    transport: Transport
    dag_id: str
    _batch_refused: bool  # POST dagRuns/list answered 403: list this DAG's runs instead
    dag_paused: Callable[[], bool]  # runs.py
    _run_json: Callable[[str], dict[str, Any]]  # runs.py
    result: Callable[..., RunResult]  # results.py

    def status(self, run_id: str, started: float | None = None) -> RunStatus:
        """One poll: the run's state and each task's state and timing."""
        run = self._run_json(run_id)
        try:
            listing = self.transport.send(
                "GET taskInstances",
                "GET",
                f"/dags/{self.dag_id}/dagRuns/{run_id}/taskInstances",
            ).json()
        except HttpError as exc:
            raise self.transport.error(exc, f"run {run_id!r}") from None
        tasks = [
            TaskStatus(
                task_id=ti["task_id"],
                state=_value(ti.get("state")),
                try_number=int(ti.get("try_number") or 0),
                start_date=_when(ti.get("start_date")),
                end_date=_when(ti.get("end_date")),
                duration=ti.get("duration"),
            )
            for ti in listing.get("task_instances") or []
        ]
        return RunStatus(
            run_id=run_id,
            state=run.get("state") or "queued",
            conf=dict(run.get("conf") or {}),
            tasks=ordered(tasks),
            elapsed=0.0 if started is None else time.monotonic() - started,
        )

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_progress: ProgressCallback | None = None,
        log_lines: int = 20,
        attached: bool = False,
    ) -> RunResult:
        """Poll until the run ends and return its result (``result.ok`` tells success; see
        ``raise_for_failure``). WaitTimedOut after ``timeout`` seconds; the run goes on."""
        started = time.monotonic()
        while True:
            status = self.status(run_id, started)
            if on_progress is not None:
                on_progress(status)
            if status.finished:
                return self.result(status, attached=attached, log_lines=log_lines)
            if timeout is not None and status.elapsed >= timeout:
                states = ", ".join(f"{t.task_id} {t.state or 'none'}" for t in status.tasks)
                raise WaitTimedOut(
                    f"run {run_id!r} is still {status.state} after {timeout:g} s "
                    f"({states or 'no task started'}); it goes on in Airflow: --wait with "
                    f"--run-id {run_id} attaches to it again"
                )
            pause = poll_interval
            if timeout is not None:
                pause = min(pause, max(0.0, timeout - status.elapsed))
            time.sleep(pause)

    def wait_many(
        self,
        run_ids: Iterable[str],
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_progress: ManyProgressCallback | None = None,
        since: dt.datetime | None = None,
    ) -> WaitManyResult:
        """Poll until every run ends and return each one's final state (``result.ok``: all
        succeeded). Each poll is one run listing for all the runs still pending (a page per
        100 runs in its window), never a request per run. A run not listed (yet) counts as
        pending. ``since``: the earliest logical date the runs may have, when known (default:
        LOOKBACK before the wait starts). WaitTimedOut after ``timeout`` seconds; the runs go
        on."""
        started = time.monotonic()
        tracker = RunTracker(run_ids, as_utc(since or dt.datetime.now(dt.UTC) - LOOKBACK))
        if not tracker.run_ids:
            return tracker.result(0.0)
        while True:
            self._poll_many(tracker)
            progress = tracker.progress(time.monotonic() - started)
            if on_progress is not None:
                on_progress(progress)
            if not progress.pending:
                return tracker.result(progress.elapsed)
            if timeout is not None and progress.elapsed >= timeout:
                raise WaitTimedOut(tracker.timed_out(timeout))
            pause = poll_interval
            if timeout is not None:
                pause = min(pause, max(0.0, timeout - progress.elapsed))
            time.sleep(pause)

    def _poll_many(self, tracker: RunTracker) -> None:
        listed = collect_wanted(self._list_runs_page, tracker.window_start(), tracker.pending)
        tracker.record(listed)
        if tracker.polls == 1 and not tracker.latest:
            # The listing leaves out a DAG this account may not read, or that does not exist,
            # instead of refusing: the DAG's own endpoint tells (DagNotFound), once.
            self.dag_paused()

    def _list_runs_page(self, since: dt.datetime, offset: int) -> Page:
        """One page of the DAG's runs with a logical date from ``since``, newest first."""
        if not self._batch_refused:
            try:
                return self._list_runs_batch(since, offset)
            except HttpError as exc:
                if exc.status != 403:
                    raise self.transport.error(exc, f"the runs of DAG {self.dag_id!r}") from None
                # The cross-DAG listing needs read on every DAG's runs ("DAG Runs"); a role
                # that may read this DAG's runs only (RestTriggerCaller) lists them on the
                # DAG's own endpoint instead: the same one request per page, from now on.
                self._batch_refused = True
        try:
            return self._list_dag_runs(since, offset)
        except HttpError as exc:
            if exc.status == 403:
                self.dag_paused()  # a DAG it may not see, or a refused login: as trigger says
            raise self.transport.error(exc, f"the runs of DAG {self.dag_id!r}") from None

    def _list_runs_batch(self, since: dt.datetime, offset: int) -> Page:
        """``POST /dags/~/dagRuns/list``, this DAG only (the form has no run-id filter)."""
        form = {
            "dag_ids": [self.dag_id],
            self.transport.version.since_filter: since.isoformat(),
            "page_limit": PAGE_LIMIT,
            "page_offset": offset,
            "order_by": ORDER_BY,
        }
        response = self.transport.send(
            "POST dagRuns/list", "POST", "/dags/~/dagRuns/list", json=form
        )
        return parse_page(response.content)

    def _list_dag_runs(self, since: dt.datetime, offset: int) -> Page:
        """``GET /dags/{dag_id}/dagRuns``: the same filters and paging, on this DAG's runs."""
        query = {
            self.transport.version.since_filter: since.isoformat(),
            "limit": PAGE_LIMIT,
            "offset": offset,
            "order_by": ORDER_BY,
        }
        response = self.transport.send(
            "GET dagRuns", "GET", f"/dags/{self.dag_id}/dagRuns", params=query
        )
        return parse_page(response.content)


def _value(model: Any) -> str | None:
    """An enum model (DagState, TaskState) as its string."""
    if model is None:
        return None
    return str(getattr(model, "value", model))


def _when(value: Any) -> dt.datetime | None:
    """A timestamp of the API (TaskInstance's are plain strings in the generated models)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
