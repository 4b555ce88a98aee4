"""A thin REST client for the runs the benchmark posts and the timestamps Airflow records."""

from __future__ import annotations

import ast
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DAG_ID = "rest-trigger"
TERMINAL = {"success", "failed"}
# The demo data's usual question: one global id, one site, one quarter.
CONF = {"gid": 42, "sid": 7, "date_start": "2024-01-01", "date_end": "2024-03-31"}


def parse_ts(value: str | None) -> float | None:
    """An API timestamp as a POSIX time (the API answers in UTC, with an offset)."""
    return dt.datetime.fromisoformat(value).timestamp() if value else None


@dataclass
class Posted:
    run_id: str
    status: int
    sent_at: float  # wall clock (time.time()) when the POST was sent
    seconds: float  # how long the POST took to answer
    body: str = ""


class Client:
    def __init__(self, base_url: str, auth: tuple[str, str]):
        self.api = f"{base_url}/api/v1"
        self.session = requests.Session()
        self.session.auth = auth
        # A gunicorn worker that is still booting (or being recycled) resets the connection:
        # retry connection errors (a POST only when it was not sent) and GETs' read errors.
        retry = Retry(total=6, connect=6, read=3, backoff_factor=0.5, allowed_methods={"GET"})
        self.session.mount("http://", HTTPAdapter(max_retries=retry))

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(f"{self.api}{path}", timeout=60, **kwargs)

    def trigger(self, run_id: str, conf: dict[str, Any] | None = None) -> Posted:
        sent_at = time.time()
        started = time.perf_counter()
        response = self.session.post(
            f"{self.api}/dags/{DAG_ID}/dagRuns",
            json={"dag_run_id": run_id, "conf": conf or CONF},
            timeout=60,
        )
        seconds = time.perf_counter() - started
        body = "" if response.status_code == 200 else response.text[:300]
        return Posted(run_id, response.status_code, sent_at, seconds, body)

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.get(f"/dags/{DAG_ID}/dagRuns/{run_id}")
        response.raise_for_status()
        return response.json()

    def runs(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every run whose id starts with prefix (paged)."""
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            response = self.get(
                f"/dags/{DAG_ID}/dagRuns",
                params={"limit": 100, "offset": offset, "order_by": "start_date"},
            )
            response.raise_for_status()
            page = response.json()["dag_runs"]
            found.update({r["dag_run_id"]: r for r in page if r["dag_run_id"].startswith(prefix)})
            if len(page) < 100:
                return found
            offset += 100

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        response = self.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
        response.raise_for_status()
        return response.json()["task_instances"]

    def xcom_total(self, run_id: str) -> int:
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/main_etl/xcomEntries/return_value"
        response = self.get(path, params={"deserialize": "true", "stringify": "false"})
        if response.status_code == 400:  # stock settings: [api] enable_xcom_deserialize_support off
            response = self.get(path)
            response.raise_for_status()
            return int(ast.literal_eval(response.json()["value"])["total"])  # a Python repr
        response.raise_for_status()
        return int(response.json()["value"]["total"])

    def wait_healthy_dag(self, timeout: float = 120) -> None:
        """Wait until the scheduler has serialized the DAG (a POST before that is a 404)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.get(f"/dags/{DAG_ID}")
            if response.status_code == 200:
                return
            time.sleep(0.5)
        raise TimeoutError(f"DAG {DAG_ID} not available after {timeout} s")
