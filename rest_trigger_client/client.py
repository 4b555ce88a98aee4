"""The Python API: trigger ``rest-trigger``, wait for the run, and collect its result.

It speaks to Airflow's stable REST API (/api/v1, basic auth) through the official generated
client, ``apache-airflow-client``, and adds what a caller needs on top: one exception per
actionable error, retries with backoff while Airflow is unreachable, attaching to an existing
run on a 409, and the failing task's reason from its log.

    from rest_trigger_client import RestTriggerClient, RunConf

    with RestTriggerClient() as client:  # AIRFLOW_URL / AIRFLOW_USERNAME / AIRFLOW_PASSWORD
        run = client.trigger(RunConf(42, 7, "2024-01-01", "2024-03-31"), attach_existing=True)
        result = client.wait(run.run_id, timeout=600)
        print(result.state, result.total)
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from airflow_client import client as airflow_api
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DAGRunApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.api.x_com_api import XComApi
from airflow_client.client.exceptions import ApiException
from airflow_client.client.model.dag import DAG
from airflow_client.client.model.dag_run import DAGRun
from airflow_client.client.model.list_dag_runs_form import ListDagRunsForm

from rest_trigger_client.errors import (
    ApiError,
    BadCredentials,
    DagNotFound,
    DagPaused,
    InvalidInput,
    RestTriggerError,
    RunFailed,
    RunIdConflict,
    Unreachable,
    WaitTimedOut,
)
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
from rest_trigger_client.results import (
    SUMMARY_TASK,
    RunConf,
    RunResult,
    RunStatus,
    TaskFailure,
    TaskStatus,
    failure_reason,
    log_tail,
    ordered,
)
from rest_trigger_client.run_id import check_run_id, default_run_id
from rest_trigger_client.settings import DAG_ID, ClientSettings

T = TypeVar("T")
ProgressCallback = Callable[[RunStatus], None]
ManyProgressCallback = Callable[[WaitManyProgress], None]

# Worth another try: the webserver restarting or a proxy in front of it.
RETRY_STATUSES = frozenset({502, 503, 504})
_OBJECT_REPR = re.compile(r"<[^>]+ at 0x[0-9a-f]+>: ")


@dataclass(frozen=True)
class Triggered:
    run_id: str
    conf: dict[str, Any]
    attached: bool  # the run existed (409) with the same conf, and the client attached to it
    unpaused: bool  # the client unpaused the DAG first (unpause=True)


class RestTriggerClient:
    def __init__(
        self,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        *,
        dag_id: str = DAG_ID,
        connect_retries: int = 4,
        backoff_seconds: float = 1.0,
        request_timeout: float = 30.0,
    ):
        """Unset connection values come from AIRFLOW_URL / AIRFLOW_USERNAME / AIRFLOW_PASSWORD,
        then from `make run`'s local defaults. While Airflow is unreachable (or answers
        502/503/504) a call is retried ``connect_retries`` times, waiting ``backoff_seconds``,
        then twice as long each time."""
        self.settings = ClientSettings.resolve(base_url, username, password)
        self.dag_id = dag_id
        self.connect_retries = max(0, connect_retries)
        self.backoff_seconds = backoff_seconds
        self.request_timeout = request_timeout
        config = airflow_api.Configuration(
            host=f"{self.settings.base_url}/api/v1",
            username=self.settings.username,
            password=self.settings.password,
        )
        config.retries = False  # retried here, with backoff and a message
        self._api = airflow_api.ApiClient(config)
        self._dags = DAGApi(self._api)
        self._runs = DAGRunApi(self._api)
        self._task_instances = TaskInstanceApi(self._api)
        self._xcoms = XComApi(self._api)
        self._attempts = 0  # attempts the last call needed
        self._batch_refused = False  # POST dagRuns/list answered 403: list this DAG's runs

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> RestTriggerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------
    def _call(self, what: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        attempts = self.connect_retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            self._attempts = attempt
            try:
                return method(*args, _request_timeout=self.request_timeout, **kwargs)
            except urllib3.exceptions.HTTPError as exc:
                problem = _OBJECT_REPR.sub("", str(exc.args[0] if exc.args else exc))
            except ApiException as exc:
                if exc.status not in RETRY_STATUSES:
                    raise
                problem = f"HTTP {exc.status} {exc.reason}"
            if attempt < attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise Unreachable(
            f"Airflow at {self.settings.base_url} is unreachable ({what}, {attempts} "
            f"attempt{'s' if attempts > 1 else ''}): {problem}"
        )

    def _error(self, exc: ApiException, subject: str) -> RestTriggerError:
        """The exception a caller can act on, for an HTTP error answer."""
        detail = _detail(exc)
        status = exc.status
        if status == 400:
            return InvalidInput(f"Airflow refused {subject} (HTTP 400): {detail}")
        if status in (401, 403):
            return BadCredentials(
                f"Airflow refused the credentials of user {self.settings.username!r} "
                f"(HTTP {status}): check AIRFLOW_USERNAME / AIRFLOW_PASSWORD, and that the "
                "user may trigger DAG runs"
            )
        if status == 404:
            return ApiError(f"{subject} not found (HTTP 404): {detail}", status)
        if status == 429:
            wait = (exc.headers or {}).get("Retry-After", "?")
            return BadCredentials(
                f"Airflow refuses logins for user {self.settings.username!r} for {wait} s after "
                "too many failed ones (HTTP 429): check AIRFLOW_USERNAME / AIRFLOW_PASSWORD"
            )
        if status == 409:
            return RunIdConflict(f"{subject}: {detail}")
        return ApiError(f"Airflow answered HTTP {status} for {subject}: {detail}", status)

    # -- the DAG ---------------------------------------------------------------------------
    def dag_paused(self) -> bool:
        """Whether the DAG is paused; DagNotFound when Airflow has no such DAG."""
        try:
            dag = self._call("GET dag", self._dags.get_dag, self.dag_id)
        except ApiException as exc:
            if exc.status == 404:
                raise DagNotFound(
                    f"DAG {self.dag_id!r} not found at {self.settings.base_url} (HTTP 404): "
                    "is the DAG file deployed and free of import errors?"
                ) from None
            if exc.status == 403 and self._logged_in():
                # Airflow checks permission before existence: a role limited to some DAGs
                # (the caller's) gets 403 for any other name, existing or not.
                raise DagNotFound(
                    f"DAG {self.dag_id!r} not found at {self.settings.base_url}, or user "
                    f"{self.settings.username!r} may not see it (HTTP 403)"
                ) from None
            raise self._error(exc, f"DAG {self.dag_id!r}") from None
        return bool(dag.get("is_paused"))

    def _logged_in(self) -> bool:
        """Whether the credentials are accepted (listing DAGs needs only a login that may read
        some DAG): tells a refused login from a refused DAG, both 403."""
        try:
            self._dags.get_dags(limit=1)
        except ApiException:
            return False
        return True

    def unpause(self) -> None:
        try:
            self._call(
                "PATCH dag",
                self._dags.patch_dag,
                self.dag_id,
                DAG(is_paused=False),
                update_mask=["is_paused"],
            )
        except ApiException as exc:
            if exc.status == 403:
                raise DagPaused(
                    f"DAG {self.dag_id!r} is paused and user {self.settings.username!r} may not "
                    "unpause it (HTTP 403): unpause it in the UI, or with an account that may "
                    "edit the DAG"
                ) from None
            raise self._error(exc, f"unpausing DAG {self.dag_id!r}") from None

    # -- triggering ------------------------------------------------------------------------
    def trigger(
        self,
        conf: RunConf,
        run_id: str | None = None,
        *,
        attach_existing: bool = False,
        unpause: bool = False,
    ) -> Triggered:
        """Create the run. A paused DAG raises DagPaused (Airflow would accept the run and
        leave it queued) unless ``unpause``. If the run id is taken (409) by a run with the same
        conf and ``attach_existing``, that run is returned (``attached=True``), so a caller can
        retry safely; otherwise RunIdConflict."""
        run_id = check_run_id(run_id) if run_id else default_run_id(conf)
        unpaused = False
        if self.dag_paused():
            if not unpause:
                raise DagPaused(
                    f"DAG {self.dag_id!r} is paused: Airflow would accept the run and leave it "
                    "queued; pass --unpause (unpause=True) or unpause it in the UI"
                )
            self.unpause()
            unpaused = True
        wanted = conf.as_json()
        try:
            self._call(
                "POST dagRuns",
                self._runs.post_dag_run,
                self.dag_id,
                DAGRun(dag_run_id=run_id, conf=wanted),
            )
        except ApiException as exc:
            if exc.status != 409:
                raise self._error(exc, f"run {run_id!r}") from None
            # After a lost answer and a retry, the run in the way is most likely our own.
            retried = self._attempts > 1
            existing = self._existing_run_conf(run_id)
            if existing != wanted:
                raise RunIdConflict(
                    f"run id {run_id!r} is already used by a run with another conf "
                    f"({json.dumps(existing, sort_keys=True)}): choose another --run-id"
                ) from None
            if not (attach_existing or retried):
                raise RunIdConflict(
                    f"run id {run_id!r} is already used (HTTP 409); --wait attaches to that run"
                ) from None
            return Triggered(run_id, wanted, attached=True, unpaused=unpaused)
        return Triggered(run_id, wanted, attached=False, unpaused=unpaused)

    def _existing_run_conf(self, run_id: str) -> dict[str, Any]:
        return dict(self._run_json(run_id).get("conf") or {})

    def _run_json(self, run_id: str) -> dict[str, Any]:
        """The run as Airflow sent it. (The generated DAGRun model turns conf strings that look
        like dates into ``datetime.date`` objects, so its conf is not the conf that was sent.)"""
        try:
            response = self._call(
                "GET dagRun",
                self._runs.get_dag_run,
                self.dag_id,
                run_id,
                _preload_content=False,
            )
        except ApiException as exc:
            raise self._error(exc, f"run {run_id!r}") from None
        return json.loads(response.data)

    # -- waiting ---------------------------------------------------------------------------
    def status(self, run_id: str, started: float | None = None) -> RunStatus:
        """One poll: the run's state and each task's state and timing."""
        run = self._run_json(run_id)
        try:
            listing = self._call(
                "GET taskInstances", self._task_instances.get_task_instances, self.dag_id, run_id
            )
        except ApiException as exc:
            raise self._error(exc, f"run {run_id!r}") from None
        tasks = [
            TaskStatus(
                task_id=ti.task_id,
                state=_value(ti.get("state")),
                try_number=int(ti.get("try_number") or 0),
                start_date=_when(ti.get("start_date")),
                end_date=_when(ti.get("end_date")),
                duration=ti.get("duration"),
            )
            for ti in listing.task_instances
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
            except ApiException as exc:
                if exc.status != 403:
                    raise self._error(exc, f"the runs of DAG {self.dag_id!r}") from None
                # The cross-DAG listing needs read on every DAG's runs ("DAG Runs"); a role
                # that may read this DAG's runs only (RestTriggerCaller) lists them on the
                # DAG's own endpoint instead: the same one request per page, from now on.
                self._batch_refused = True
        try:
            return self._list_dag_runs(since, offset)
        except ApiException as exc:
            if exc.status == 403:
                self.dag_paused()  # a DAG it may not see, or a refused login: as trigger says
            raise self._error(exc, f"the runs of DAG {self.dag_id!r}") from None

    def _list_runs_batch(self, since: dt.datetime, offset: int) -> Page:
        """``POST /dags/~/dagRuns/list``, this DAG only (the form has no run-id filter)."""
        form = ListDagRunsForm(
            dag_ids=[self.dag_id],
            execution_date_gte=since,
            page_limit=PAGE_LIMIT,
            page_offset=offset,
            order_by=ORDER_BY,
        )
        response = self._call(
            "POST dagRuns/list", self._runs.get_dag_runs_batch, form, _preload_content=False
        )
        return parse_page(response.data)

    def _list_dag_runs(self, since: dt.datetime, offset: int) -> Page:
        """``GET /dags/{dag_id}/dagRuns``: the same filters and paging, on this DAG's runs."""
        response = self._call(
            "GET dagRuns",
            self._runs.get_dag_runs,
            self.dag_id,
            execution_date_gte=since,
            limit=PAGE_LIMIT,
            offset=offset,
            order_by=ORDER_BY,
            _preload_content=False,
        )
        return parse_page(response.data)

    def result(
        self, status: RunStatus, *, attached: bool = False, log_lines: int = 20
    ) -> RunResult:
        """The final report for a finished run: main_etl's summary, or what failed and why."""
        summary = self.summary(status.run_id) if status.state == "success" else None
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

    def _failure(self, run_id: str, task: TaskStatus, log_lines: int) -> TaskFailure:
        try:
            log = self.task_log(run_id, task.task_id, task.try_number)
        except RestTriggerError as exc:
            return TaskFailure(task.task_id, task.try_number, f"log unavailable: {exc}", "")
        reason = failure_reason(log)
        return TaskFailure(task.task_id, task.try_number, reason, log_tail(log, log_lines))

    # -- results ---------------------------------------------------------------------------
    def summary(self, run_id: str, task_id: str = SUMMARY_TASK) -> dict[str, Any] | None:
        """main_etl's return value, ``{dag_run_id, gid, sid, date_start, date_end, total}``."""
        try:
            entry = self._call(
                "GET xcomEntry",
                self._xcoms.get_xcom_entry,
                self.dag_id,
                run_id,
                task_id,
                "return_value",
                deserialize=True,
                stringify=False,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status != 400:  # 400: this Airflow does not deserialize XComs; read the text
                raise self._error(exc, f"the summary of run {run_id!r}") from None
            entry = self._call(
                "GET xcomEntry",
                self._xcoms.get_xcom_entry,
                self.dag_id,
                run_id,
                task_id,
                "return_value",
            )
        return _as_dict(entry.get("value"))

    def task_log(self, run_id: str, task_id: str, try_number: int) -> str:
        """The task try's whole log as text (the API's text/plain form; the generated method
        only asks for JSON, whose ``content`` is a Python repr)."""
        try:
            response = self._call(
                "GET log",
                self._api.call_api,
                "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}",
                "GET",
                path_params={
                    "dag_id": self.dag_id,
                    "dag_run_id": run_id,
                    "task_id": task_id,
                    "task_try_number": max(1, try_number),
                },
                query_params=[("full_content", "true")],
                header_params={"Accept": "text/plain"},
                auth_settings=["Basic"],
                _preload_content=False,
                _return_http_data_only=True,
            )
        except ApiException as exc:
            raise self._error(exc, f"the log of {task_id} in run {run_id!r}") from None
        return response.data.decode("utf-8", errors="replace")


def trigger_and_wait(
    conf: RunConf,
    run_id: str | None = None,
    *,
    timeout: float | None = None,
    unpause: bool = False,
    check: bool = True,
    on_progress: ProgressCallback | None = None,
    **client_options: Any,
) -> RunResult:
    """One call for other systems: trigger (attaching to the same run id on a retry), wait, and
    return the result; with ``check`` a failed run raises RunFailed."""
    with RestTriggerClient(**client_options) as client:
        run = client.trigger(conf, run_id, attach_existing=True, unpause=unpause)
        result = client.wait(
            run.run_id, timeout=timeout, on_progress=on_progress, attached=run.attached
        )
    if check:
        raise_for_failure(result)
    return result


def raise_for_failure(result: RunResult) -> None:
    if result.ok:
        return
    reasons = "; ".join(f"{f.task_id}: {f.reason}" for f in result.failures)
    raise RunFailed(f"run {result.run_id!r} {result.state}: {reasons or 'no task failed'}", result)


def _detail(exc: ApiException) -> str:
    """The first line of Airflow's problem ``detail`` (jsonschema adds the schema below it)."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        detail = json.loads(body).get("detail") or json.loads(body).get("title")
    except (TypeError, ValueError, AttributeError):
        detail = None
    text = str(detail or exc.reason or "no detail")
    return text.strip().splitlines()[0] if text.strip() else "no detail"


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


def _as_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, dict):
                return parsed
    return None
