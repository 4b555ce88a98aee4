"""Following runs until they end: one poll of a run (its state and its tasks'), ``wait`` for one
run, and ``wait_many`` for many (the listing's logic is ``many.py``). Part of
``RestTriggerClient``.

Which way (docs/client.md, "Waiting"): on Airflow 3.1+ (/api/v2 with the wait endpoint) ``wait``
reads one wait stream (``wait_stream.py``) instead of polling, and ``wait_many`` reads one
stream per run when there are at most ``MANY_STREAMS_MAX`` runs, else lists them all once per
poll. On /api/v1, and where the endpoint is missing (Airflow 3.0; found once per client and
remembered), both poll as before.

Over 250 lines because both ways of waiting share the status, result and timeout logic here.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rest_trigger_client.errors import HttpError, WaitTimedOut
from rest_trigger_client.many import (
    LOOKBACK,
    ORDER_BY,
    PAGE_LIMIT,
    ListedRun,
    Page,
    RunTracker,
    WaitManyProgress,
    WaitManyResult,
    as_utc,
    collect_wanted,
    parse_page,
)
from rest_trigger_client.results import (
    SUMMARY_TASK,
    RunResult,
    RunStatus,
    TaskStatus,
    ordered,
    summary_value,
)
from rest_trigger_client.wait_stream import (
    EndpointMissing,
    StreamTimedOut,
    WaitLine,
    follow,
    is_missing_endpoint,
)

if TYPE_CHECKING:
    from rest_trigger_client.transport import Transport

ProgressCallback = Callable[[RunStatus], None]
ManyProgressCallback = Callable[[WaitManyProgress], None]

# While a streamed run is running, its tasks are asked again at most this often (seconds), on
# top of once per change of the run's state: the stream carries the run's state only, and a
# request per line would give back what the stream saves (docs/client.md, "Waiting").
TASK_REFRESH = 10.0
# wait_many reads one stream per run up to this many runs, and lists them once per poll above:
# N streams cost N requests (+1 listing at the end for the runs' dates) whatever the runs take;
# the listing costs one per poll interval. A run of this DAG lasts some 4-10 poll intervals
# at the default 1 s (docs/client.md), so up to 4 runs the streams cost no more, and they keep
# the client's threads and connections (the pool holds 10) few.
MANY_STREAMS_MAX = 4


class _Cancelled(Exception):
    """Another of wait_many's streams failed: this one stops too."""


class WaitMixin:
    """Polling; ``RestTriggerClient`` provides the attributes and the methods below."""

    transport: Transport
    dag_id: str
    _batch_refused: bool  # POST dagRuns/list answered 403: list this DAG's runs instead
    dag_paused: Callable[[], bool]  # runs.py
    _wait_endpoint: bool | None  # None until a wait on /api/v2 has found out
    _run_json: Callable[[str], dict[str, Any]]  # runs.py
    result: Callable[..., RunResult]  # results.py
    _finished: Callable[..., RunResult]  # results.py

    @property
    def uses_wait_endpoint(self) -> bool:
        """Whether waits read Airflow's wait stream (else they poll): /api/v2, unless a wait
        has found the endpoint missing (Airflow 3.0)."""
        return self._wait_endpoint is not False and self.transport.version.wait_endpoint

    def status(self, run_id: str, started: float | None = None) -> RunStatus:
        """One poll: the run's state and each task's state and timing."""
        run = self._run_json(run_id)
        return RunStatus(
            run_id=run_id,
            state=run.get("state") or "queued",
            conf=dict(run.get("conf") or {}),
            tasks=self._tasks(run_id),
            elapsed=0.0 if started is None else time.monotonic() - started,
        )

    def _tasks(self, run_id: str) -> tuple[TaskStatus, ...]:
        """The run's tasks' states and timing: one request."""
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
        return ordered(tasks)

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_progress: ProgressCallback | None = None,
        log_lines: int = 20,
        attached: bool = False,
        task_refresh: float | None = TASK_REFRESH,
    ) -> RunResult:
        """Wait until the run ends and return its result (``result.ok`` tells success; see
        ``raise_for_failure``). WaitTimedOut after ``timeout`` seconds; the run goes on.

        On Airflow 3.1+ one wait stream, Airflow checking the run every ``poll_interval``
        seconds, brings the end and main_etl's summary; ``on_progress`` sees the tasks at each
        change of the run's state, and every ``task_refresh`` seconds while it runs (None:
        only at those changes). Elsewhere the run and its tasks are polled every
        ``poll_interval`` seconds."""
        if self.uses_wait_endpoint:
            try:
                result = self._wait_streaming(
                    run_id, timeout, poll_interval, on_progress, log_lines, attached, task_refresh
                )
            except EndpointMissing:
                self._wait_endpoint = False  # Airflow 3.0: poll, this time and from now on
            else:
                self._wait_endpoint = True
                return result
        return self._wait_polling(run_id, timeout, poll_interval, on_progress, log_lines, attached)

    def _wait_streaming(
        self,
        run_id: str,
        timeout: float | None,
        interval: float,
        on_progress: ProgressCallback | None,
        log_lines: int,
        attached: bool,
        task_refresh: float | None,
    ) -> RunResult:
        started = time.monotonic()
        shown: dict[str, Any] = {"state": None, "tasks": (), "at": float("-inf")}

        def show(state: str, tasks: tuple[TaskStatus, ...]) -> None:
            shown.update(state=state, tasks=tasks, at=time.monotonic())
            if on_progress is not None:
                on_progress(RunStatus(run_id, state, {}, tasks, time.monotonic() - started))

        def on_line(line: WaitLine) -> None:
            changed = line.state != shown["state"]
            shown["state"] = line.state
            if line.finished or on_progress is None:
                return  # the end is shown below, with the run's conf; no one to show it to
            due = task_refresh is not None and time.monotonic() - shown["at"] >= task_refresh
            if changed or (due and line.state == "running"):
                # A queued run has no task started: nothing to ask.
                show(line.state, () if line.state == "queued" else self._tasks(run_id))

        try:
            final = follow(
                self.transport,
                self.dag_id,
                run_id,
                interval=interval,
                result_tasks=[SUMMARY_TASK],
                deadline=None if timeout is None else started + timeout,
                on_line=on_line,
                backoff_seconds=self.transport.backoff_seconds,
            )
        except StreamTimedOut:
            # The tasks as they are now, for the message (one request, once).
            message = self._still(run_id, shown["state"], self._tasks(run_id), timeout)
            raise WaitTimedOut(message) from None
        except HttpError as exc:
            raise self.transport.error(exc, f"run {run_id!r}") from None
        run = self._run_json(run_id)  # the conf (the stream has only the state)
        status = RunStatus(
            run_id=run_id,
            state=final.state,
            conf=dict(run.get("conf") or {}),
            tasks=self._tasks(run_id),
            elapsed=time.monotonic() - started,
        )
        if on_progress is not None:
            on_progress(status)
        summary = None
        if status.state == "success":
            summary = summary_value(final.results.get(SUMMARY_TASK))
        return self._finished(status, summary, attached=attached, log_lines=log_lines)

    @staticmethod
    def _still(
        run_id: str, state: str | None, tasks: Iterable[TaskStatus], timeout: float | None
    ) -> str:
        states = ", ".join(f"{t.task_id} {t.state or 'none'}" for t in tasks)
        return (
            f"run {run_id!r} is still {state or 'queued'} after {timeout:g} s "
            f"({states or 'no task started'}); it goes on in Airflow: --wait with "
            f"--run-id {run_id} attaches to it again"
        )

    def _wait_polling(
        self,
        run_id: str,
        timeout: float | None,
        poll_interval: float,
        on_progress: ProgressCallback | None,
        log_lines: int,
        attached: bool,
    ) -> RunResult:
        started = time.monotonic()
        while True:
            status = self.status(run_id, started)
            if on_progress is not None:
                on_progress(status)
            if status.finished:
                return self.result(status, attached=attached, log_lines=log_lines)
            if timeout is not None and status.elapsed >= timeout:
                raise WaitTimedOut(self._still(run_id, status.state, status.tasks, timeout))
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
        max_streams: int = MANY_STREAMS_MAX,
    ) -> WaitManyResult:
        """Wait until every run ends and return each one's final state (``result.ok``: all
        succeeded). Up to ``max_streams`` runs on Airflow 3.1+: one wait stream per run, read
        at once, and one run listing at the end (for the runs' dates). Otherwise each poll is
        one run listing for all the runs still pending (a page per 100 runs in its window),
        never a request per run. A run not created (listed) yet counts as pending. ``since``:
        the earliest logical date the runs may have, when known (default: LOOKBACK before the
        wait starts). WaitTimedOut after ``timeout`` seconds; the runs go on."""
        since_utc = as_utc(since or dt.datetime.now(dt.UTC) - LOOKBACK)
        tracker = RunTracker(run_ids, since_utc)
        if not tracker.run_ids:
            return tracker.result(0.0)
        if len(tracker.run_ids) <= max_streams and self.uses_wait_endpoint:
            try:
                result = self._wait_many_streaming(tracker, timeout, poll_interval, on_progress)
            except EndpointMissing:
                self._wait_endpoint = False
                tracker = RunTracker(tracker.run_ids, since_utc)
            else:
                self._wait_endpoint = True
                return result
        return self._wait_many_polling(tracker, timeout, poll_interval, on_progress)

    def _wait_many_streaming(
        self,
        tracker: RunTracker,
        timeout: float | None,
        interval: float,
        on_progress: ManyProgressCallback | None,
    ) -> WaitManyResult:
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        lock = threading.Lock()
        failed = threading.Event()

        def one(run_id: str) -> None:
            def on_line(line: WaitLine) -> None:
                if failed.is_set():
                    raise _Cancelled
                with lock:
                    known = tracker.latest.get(run_id)
                    if known is not None and known.state == line.state:
                        return
                    tracker.latest[run_id] = ListedRun(run_id, line.state, None, None)
                    if on_progress is not None:
                        on_progress(tracker.progress(time.monotonic() - started))

            while True:
                try:
                    follow(
                        self.transport,
                        self.dag_id,
                        run_id,
                        interval=interval,
                        deadline=deadline,
                        on_line=on_line,
                        backoff_seconds=self.transport.backoff_seconds,
                    )
                    return
                except HttpError as exc:
                    if exc.status != 404 or is_missing_endpoint(exc, run_id):
                        raise
                # Not created yet: pending, like a run no listing shows yet; asked again.
                if failed.is_set():
                    raise _Cancelled
                if deadline is not None and time.monotonic() + interval >= deadline:
                    raise StreamTimedOut(run_id)
                time.sleep(interval)

        def guarded(run_id: str) -> None:
            try:
                one(run_id)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(len(tracker.run_ids), thread_name_prefix="wait-stream") as pool:
            futures = [pool.submit(guarded, run_id) for run_id in tracker.run_ids]
        errors = [f.exception() for f in futures if f.exception() is not None]
        real = [e for e in errors if not isinstance(e, _Cancelled)]
        for error in real:
            if isinstance(error, EndpointMissing):
                raise error
        for error in real:
            if isinstance(error, StreamTimedOut):
                raise WaitTimedOut(tracker.timed_out(timeout or 0.0))
        if real:
            error = real[0]
            if isinstance(error, HttpError):
                raise self.transport.error(error, f"the runs of DAG {self.dag_id!r}") from None
            raise error
        # The streams carry states only: one listing brings the runs' dates, as polling has.
        everything = frozenset(tracker.run_ids)
        tracker.record(collect_wanted(self._list_runs_page, tracker.unlisted_since, everything))
        return tracker.result(time.monotonic() - started)

    def _wait_many_polling(
        self,
        tracker: RunTracker,
        timeout: float | None,
        poll_interval: float,
        on_progress: ManyProgressCallback | None,
    ) -> WaitManyResult:
        started = time.monotonic()
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
