"""The Python API: ``RestTriggerClient`` (trigger ``rest-trigger``, wait for the run, collect its
result), ``trigger_and_wait`` in one call, and ``raise_for_failure``.

It speaks to Airflow's stable REST API, /api/v1 with basic auth on Airflow 2 or /api/v2 with a
JWT on Airflow 3 (asked once per client; ``api_version.py`` holds the differences), and adds
what a caller needs on top: one exception per actionable error, retries with backoff while
Airflow is unreachable, attaching to an existing run on a 409, and the failing task's reason
from its log.

    from rest_trigger_client import RestTriggerClient, RunConf

    with RestTriggerClient() as client:  # AIRFLOW_URL / AIRFLOW_USERNAME / AIRFLOW_PASSWORD
        run = client.trigger(RunConf(42, 7, "2024-01-01", "2024-03-31"), attach_existing=True)
        result = client.wait(run.run_id, timeout=600)
        print(result.state, result.total)

The class is assembled from one module per job: ``transport.py`` (HTTP, retries, the API
version and the login: ``api_version.py``, ``auth.py``), ``runs.py``
(the DAG's pause state, trigger, attach), ``waiting.py`` (status, wait, wait_many: Airflow
3.1+'s wait stream, ``wait_stream.py``, else polling),
``results.py`` (XCom, summary, the result) and ``logs.py`` (task logs, failure reasons).
"""

from __future__ import annotations

from typing import Any

from rest_trigger_client.errors import RunFailed
from rest_trigger_client.logs import LogsMixin
from rest_trigger_client.results import ResultsMixin, RunConf, RunResult
from rest_trigger_client.runs import RunsMixin, Triggered
from rest_trigger_client.transport import Transport
from rest_trigger_client.waiting import ProgressCallback, WaitMixin
from rest_trigger_etl.names import DAG_ID

__all__ = ["RestTriggerClient", "Triggered", "raise_for_failure", "trigger_and_wait"]


class RestTriggerClient(RunsMixin, WaitMixin, ResultsMixin, LogsMixin):
    def __init__(
        self,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        *,
        dag_id: str = DAG_ID,
        api: str | None = None,
        connect_retries: int = 4,
        backoff_seconds: float = 1.0,
        request_timeout: float = 30.0,
        wait_stream: bool = True,
    ):
        """Unset connection values come from AIRFLOW_URL / AIRFLOW_USERNAME / AIRFLOW_PASSWORD,
        then from `make run`'s local defaults. ``api``: "v1" (Airflow 2), "v2" (Airflow 3) or
        "auto" (default, else AIRFLOW_API_VERSION: ask the server once). While Airflow is
        unreachable (or answers 502/503/504) a call is retried ``connect_retries`` times,
        waiting ``backoff_seconds``, then twice as long each time. ``wait_stream=False``: wait
        by polling even where Airflow has the wait endpoint (3.1+), as on Airflow 2."""
        self.transport = Transport(
            base_url,
            username,
            password,
            api=api,
            connect_retries=connect_retries,
            backoff_seconds=backoff_seconds,
            request_timeout=request_timeout,
        )
        self.settings = self.transport.settings
        self.dag_id = dag_id
        self._batch_refused = False  # POST dagRuns/list answered 403: list this DAG's runs
        # Whether the server has the wait endpoint: None until a wait on /api/v2 finds out.
        self._wait_endpoint: bool | None = None if wait_stream else False

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RestTriggerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
