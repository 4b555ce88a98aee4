"""The waiting section, on Airflow 3.3.2: what waiting for a run costs and how late the caller
knows it ended, polling (rest_trigger_client's wait with ``wait_stream=False``: the run and its
tasks every interval, then the summary XCom) against the wait stream (one
``GET .../dagRuns/{id}/wait`` with ``result=main_etl``), and for wait_many, one run listing per
interval against one stream per run.

Both ways wait with the same interval (the CLI's default, 1 s: the client's poll, or Airflow's
check inside the stream) and with progress on, as ``rest-trigger --wait`` runs. Requests are
counted on the client's side (the transport's ``count``; the token requests left out, as they
come once per token, not per run) and cross-checked in the api-server's access log (one
``[http.access] ... path=...`` line per request). "Caller knows" is when the wait returned,
minus the run's end_date (Airflow's own timestamp; same machine, same clock).
"""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from bench.query import expected_total
from bench.runs import CONNECT_RETRIES, parse_ts, post_run, runs_with_prefix, wait_dag_served
from bench.stack import Stack
from bench.stats import summary
from rest_trigger_client import RestTriggerClient
from rest_trigger_client.transport import RequestCount

INTERVAL_S = 1.0  # rest-trigger --poll-interval's default
WAYS = {"polling": False, "stream": True}  # wait_stream= for each way
_ACCESS = re.compile(r"\[http\.access\].* method=(\S+) path=(\S+)")


def api_requests(count: RequestCount) -> int:
    """The REST API requests of a wait (its token requests aside)."""
    return count.matching("/api/")


class AccessLog:
    """The api-server's access lines, written since ``mark()``, for the requests a wait for
    ``run_ids`` sends: those on the runs' own paths and the run listings. Left out: the POST
    that created a run (its line may come just after the mark), the token requests and the
    task processes' /execution/ calls. Unavailable (None) where the stack writes no such log."""

    def __init__(self, stack: Stack):
        self.path: Path = stack.state_dir / "logs" / "api-server.log"
        self._offset = 0

    def mark(self) -> None:
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    def count(self, run_ids: list[str], settle_s: float = 1.0) -> int | None:
        if not self.path.exists():
            return None
        time.sleep(settle_s)  # a request's line is written once it has been answered
        with self.path.open("rb") as log:
            log.seek(self._offset)
            lines = log.read().decode(errors="replace").splitlines()
        runs = [f"/dagRuns/{run_id}" for run_id in run_ids]

        def waits(method: str, path: str) -> bool:
            if any(path.endswith(run) or f"{run}/" in path for run in runs):
                return True
            return path.endswith("/dagRuns/list") or (method == "GET" and path.endswith("/dagRuns"))

        return sum(1 for line in lines if (m := _ACCESS.search(line)) and waits(m[1], m[2]))


def _client(stack: Stack, stream: bool) -> RestTriggerClient:
    return RestTriggerClient(
        stack.base_url,
        *stack.auth,
        api=stack.api_version,
        connect_retries=CONNECT_RETRIES,
        wait_stream=stream,
    )


def one_run_each_way(stack: Stack, runs: int, say: Any) -> dict[str, Any]:
    """``runs`` sequential runs waited for by polling, then as many by the wait stream."""
    expected = expected_total(stack)
    prefix = f"wait-{uuid.uuid4().hex[:6]}"
    out: dict[str, Any] = {"interval_s": INTERVAL_S, "runs": runs, "expected_total": expected}
    for way, stream in WAYS.items():
        client = _client(stack, stream)
        wait_dag_served(client.transport)
        knew: dict[str, float] = {}
        requests: list[int] = []
        logged: list[int] = []
        log = AccessLog(stack)
        for i in range(runs):
            run_id = f"{prefix}-{way}-{i}"
            posted = post_run(client.transport, run_id)
            if posted.status != 200:
                raise RuntimeError(f"POST {run_id}: {posted.status} {posted.body}")
            client.transport.count.reset()
            log.mark()
            result = client.wait(
                run_id, timeout=600, poll_interval=INTERVAL_S, on_progress=lambda s: None
            )
            knew[run_id] = time.time()
            requests.append(api_requests(client.transport.count))
            if (server_count := log.count([run_id])) is not None:
                logged.append(server_count)
            if not result.ok or result.total != expected:
                raise RuntimeError(f"{way}: run {run_id} {result.state}, total {result.total}")
        if stream and not client.uses_wait_endpoint:
            raise RuntimeError("the wait stream was not used: this Airflow has no wait endpoint")
        ends = runs_with_prefix(client.transport, f"{prefix}-{way}-")
        client.close()
        delays = [knew[r] - (parse_ts(ends[r]["end_date"]) or 0.0) for r in knew]
        out[way] = {
            "requests_per_run": summary([float(n) for n in requests]),
            "access_log_requests_per_run": (
                summary([float(n) for n in logged]) if logged else None
            ),
            "run_end_to_caller_knows_s": summary(delays),
        }
        say(f"  {way}: {out[way]['requests_per_run']['median']} requests per run, caller knew "
            f"{out[way]['run_end_to_caller_knows_s']['median']:.2f} s after the end")  # fmt: skip
    return out


def many_each_way(stack: Stack, sizes: list[int], say: Any) -> list[dict[str, Any]]:
    """For each N in ``sizes``: N runs posted at once, wait_many over them by listing (one
    request per interval) and by N streams (+1 listing at the end), each on fresh runs."""
    rows = []
    for n in sizes:
        row: dict[str, Any] = {"runs": n}
        for way, max_streams in (("listing", 0), ("streams", n)):
            client = _client(stack, True)
            prefix = f"many-{uuid.uuid4().hex[:6]}-"
            run_ids = [f"{prefix}{i}" for i in range(n)]
            with ThreadPoolExecutor(max_workers=min(n, 10)) as pool:
                posted = list(pool.map(partial(post_run, client.transport), run_ids))
            if any(p.status != 200 for p in posted):
                raise RuntimeError(f"POSTs refused: {[p.status for p in posted]}")
            client.transport.count.reset()
            log = AccessLog(stack)
            log.mark()
            waited = client.wait_many(
                run_ids, timeout=900, poll_interval=INTERVAL_S, max_streams=max_streams
            )
            knew = time.time()
            requests = api_requests(client.transport.count)
            server_count = log.count(run_ids)
            ends = runs_with_prefix(client.transport, prefix)
            client.close()
            last_end = max(parse_ts(r["end_date"]) or 0.0 for r in ends.values())
            row[way] = {
                "requests": requests,
                "access_log_requests": server_count,
                "last_end_to_caller_knows_s": round(knew - last_end, 3),
                "succeeded": sum(s == "success" for s in waited.states.values()),
            }
            say(f"  wait_many {n} runs, {way}: {requests} requests, caller knew "
                f"{knew - last_end:.2f} s after the last end")  # fmt: skip
        rows.append(row)
    return rows


def waiting(stack: Stack, runs: int, sizes: list[int], say: Any) -> dict[str, Any]:
    result = one_run_each_way(stack, runs, say)
    result["many"] = many_each_way(stack, sizes, say)
    return result
