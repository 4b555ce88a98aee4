"""Airflow 3.1+'s wait endpoint, ``GET /dags/{dag_id}/dagRuns/{dag_run_id}/wait``
(operationId ``wait_dag_run_until_finished``, apache/airflow#51920), read as it streams.

What Airflow 3.3.2 sends (``airflow/api_fastapi/core_api/services/public/dag_run.py``,
``DagRunWaiter``): a first line at once, then one line every ``interval`` seconds (a required
query parameter, > 0) until the run has ended, each ``{"state": ...}``, the run's state only,
no task states. The last line, the first with a finished state, adds ``"results"``: for each
task named with ``result=<task_id>`` that has a return_value XCom, ``{task_id: value}``, the
value as JSON (a dict stays a dict). A missing run is a 404 naming it; a route Airflow 3.0
lacks is a 404 that does not (``{"error": "API route not found"}`` on 3.3.2), or a 405.

The answer is read line by line as it comes (urllib3, ``preload_content=False``) with
``Accept: application/x-ndjson``, which Airflow wants for a stream (#55465). A stream that
drops (connection reset, an incomplete chunk, a read timeout, the api-server restarting: the
stream ends with no finished line) is opened again, as long as the caller's deadline allows;
lines already seen are not lost, since each line is the whole state.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import urllib3

from rest_trigger_client.errors import ApiError, HttpError, Unreachable
from rest_trigger_client.results import TERMINAL_STATES

if TYPE_CHECKING:
    from rest_trigger_client.transport import Transport

NDJSON = "application/x-ndjson"
MIN_INTERVAL = 0.1  # seconds between Airflow's checks of the run, at least
# What a drop mid-stream looks like to urllib3 (a reset, a chunk cut short, silence past the
# read timeout); http.client's IncompleteRead can surface unwrapped from a chunked read.
DROPS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.DecodeError,
    http.client.IncompleteRead,
    ConnectionError,
)


def wait_path(dag_id: str, run_id: str) -> str:
    return f"/dags/{dag_id}/dagRuns/{run_id}/wait"


class EndpointMissing(Exception):
    """This Airflow has no wait endpoint (3.0): the client polls instead."""


class StreamTimedOut(Exception):
    """The caller's deadline passed before the stream said the run had ended."""


@dataclass(frozen=True)
class WaitLine:
    state: str
    results: dict[str, Any] = field(default_factory=dict)  # task_id -> XCom value

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass
class StreamStats:
    """What one follow() took: the streams opened (1 unless it resumed) and the lines read."""

    opened: int = 0
    lines: int = 0
    drops: int = 0


def parse_line(raw: bytes) -> WaitLine | None:
    """One NDJSON line; None for a blank one. A line that is not the JSON object Airflow
    documents is an ApiError (exit code as any unexpected answer): the endpoint changed."""
    text = raw.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not isinstance(value.get("state"), str):
        raise ApiError(f"unexpected line from Airflow's wait endpoint: {text[:200]!r}", 200)
    return WaitLine(value["state"], dict(value.get("results") or {}))


def is_missing_endpoint(exc: HttpError, run_id: str) -> bool:
    """A 405, or a 404 that is not about the run (Airflow's own 404 for a run names it)."""
    if exc.status == 405:
        return True
    return exc.status == 404 and run_id not in exc.body.decode("utf-8", errors="replace")


def follow(
    transport: Transport,
    dag_id: str,
    run_id: str,
    *,
    interval: float,
    result_tasks: Sequence[str] = (),
    deadline: float | None = None,
    on_line: Callable[[WaitLine], None] | None = None,
    stats: StreamStats | None = None,
    backoff_seconds: float = 0.5,
) -> WaitLine:
    """Read the run's wait stream until a finished line, and return it; ``on_line`` sees every
    line. After a drop the stream is opened again at once, then with backoff while drops come
    before any line (the api-server restarting); ``transport.connect_retries`` such drops in a
    row are Unreachable. ``deadline`` (time.monotonic()): StreamTimedOut once it passes.
    EndpointMissing where Airflow has no wait endpoint; other HTTP errors raise HttpError."""
    stats = stats if stats is not None else StreamStats()
    # Airflow refuses interval <= 0 (422); polling with 0 would spin, the stream gets a floor.
    interval = max(interval, MIN_INTERVAL)
    params: dict[str, Any] = {"interval": interval}
    if result_tasks:
        params["result"] = list(result_tasks)
    empty_drops = 0  # drops in a row with no line read in between
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise StreamTimedOut(run_id)
        # Airflow writes a line every interval: silence much longer than that is a drop. The
        # read timeout also keeps a blocked read from outliving the caller's deadline.
        read_timeout = max(transport.request_timeout, 3 * interval)
        if remaining is not None:
            read_timeout = min(read_timeout, remaining + interval)
        try:
            answer = transport.open_stream(
                f"GET {run_id}/wait",
                wait_path(dag_id, run_id),
                params=params,
                accept=NDJSON,
                read_timeout=max(0.1, read_timeout),
            )
        except HttpError as exc:
            if is_missing_endpoint(exc, run_id):
                raise EndpointMissing(f"HTTP {exc.status} for the wait endpoint") from None
            raise
        stats.opened += 1
        read_before = stats.lines
        ended = False  # the finished line was read: the server ends the stream right after
        try:
            for raw in answer:
                if not raw.endswith(b"\n"):
                    break  # a line cut short by the end of the stream: read it again
                line = parse_line(raw)
                if line is None:
                    continue
                stats.lines += 1
                if on_line is not None:
                    on_line(line)
                if line.finished:
                    ended = True
                    return line
                if deadline is not None and time.monotonic() >= deadline:
                    raise StreamTimedOut(run_id)
        except DROPS:
            pass
        finally:
            # Back to the pool only a connection read to its end: the rest of the finished
            # stream (its last chunk) is read; one left mid-stream (a timeout, an error) is
            # closed, or the next request on it would read this stream's lines.
            if ended:
                answer.drain_conn()
            else:
                answer.close()
            answer.release_conn()
        # The stream ended before the run did: dropped, or the api-server went away.
        stats.drops += 1
        empty_drops = 0 if stats.lines > read_before else empty_drops + 1
        if empty_drops > transport.connect_retries:
            raise Unreachable(
                f"Airflow at {transport.settings.base_url} keeps dropping the wait stream of "
                f"run {run_id!r} before its first line ({empty_drops} times in a row)"
            )
        if empty_drops:
            pause = backoff_seconds * 2 ** (empty_drops - 1)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
