"""``RestTriggerClient.wait_many`` without a server: the paging, the client-side filter, the
progress counts and the listing window (pure functions), then the client itself against a fake
Airflow at the urllib3 level, so the requests checked are the ones the generated client sends.

Over 250 lines because both halves test the one method and build their runs with the same
helper (run_json): split, the second module would import it from the first.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import urllib3

from rest_trigger_client import (
    DagNotFound,
    ListedRun,
    RestTriggerClient,
    WaitManyProgress,
    WaitTimedOut,
)
from rest_trigger_client.many import (
    LOOKBACK,
    PAGE_LIMIT,
    Page,
    RunTracker,
    collect_wanted,
    count_progress,
    parse_page,
)
from rest_trigger_etl.names import DAG_ID, DEMO_CONF

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
BATCH = ("POST", "/api/v1/dags/~/dagRuns/list")
PER_DAG = ("GET", f"/api/v1/dags/{DAG_ID}/dagRuns")


def run_json(run_id: str, state: str = "queued", minute: int = 0, **extra: Any) -> dict[str, Any]:
    """A run as Airflow 2.11's listing serialises it (the fields wait_many reads, and a conf
    whose dates the generated model would turn into dates)."""
    logical = (T0 + dt.timedelta(minutes=minute)).isoformat()
    return {
        "dag_id": DAG_ID,
        "dag_run_id": run_id,
        "state": state,
        "logical_date": logical,
        "execution_date": logical,
        "end_date": None,
        "conf": dict(DEMO_CONF),
        **extra,
    }


def listing(runs: list[dict[str, Any]], page: int = PAGE_LIMIT) -> Callable[..., Page]:
    """A fetch over ``runs`` (newest first) serving ``page`` runs per request; records offsets."""

    def fetch(since: dt.datetime, offset: int) -> Page:
        fetch.offsets.append(offset)  # type: ignore[attr-defined]
        return runs[offset : offset + page], len(runs)

    fetch.offsets = []  # type: ignore[attr-defined]
    return fetch


# -- paging and filtering ----------------------------------------------------------------------
def test_pages_through_the_listing_and_keeps_only_the_runs_waited_for() -> None:
    runs = [run_json(f"other-{i}") for i in range(250)]
    runs[3] = run_json("mine-a", "running")
    runs[230] = run_json("mine-b", "success")
    fetch = listing(runs)
    found = collect_wanted(fetch, T0, {"mine-a", "mine-b", "not-created"})
    assert sorted((r.run_id, r.state) for r in found) == [
        ("mine-a", "running"),
        ("mine-b", "success"),
    ]
    assert fetch.offsets == [0, 100, 200]  # full pages, then the short last one


def test_stops_paging_once_every_run_waited_for_was_seen() -> None:
    runs = [run_json("mine-a"), run_json("mine-b")] + [run_json(f"old-{i}") for i in range(300)]
    fetch = listing(runs)
    assert {r.run_id for r in collect_wanted(fetch, T0, {"mine-a", "mine-b"})} == {
        "mine-a",
        "mine-b",
    }
    assert fetch.offsets == [0]  # newest first: the rest is older


def test_follows_total_entries_when_the_server_caps_the_page() -> None:
    # A page shorter than asked is not the end when total_entries says there is more.
    runs = [run_json(f"other-{i}") for i in range(120)]
    runs[-1] = run_json("mine")
    fetch = listing(runs, page=40)
    assert [r.run_id for r in collect_wanted(fetch, T0, {"mine"})] == ["mine"]
    assert fetch.offsets == [0, 40, 80]


def test_an_empty_listing_is_one_request() -> None:
    fetch = listing([])
    assert collect_wanted(fetch, T0, {"mine"}) == []
    assert fetch.offsets == [0]


def test_a_listed_run_is_read_from_the_json_as_sent() -> None:
    data = json.dumps(
        {
            "dag_runs": [run_json("r1", "success", end_date="2026-01-02T03:05:00Z")],
            "total_entries": 7,
        }
    ).encode()
    runs, total = parse_page(data)
    assert total == 7
    run = ListedRun.from_json(runs[0])
    assert run == ListedRun("r1", "success", T0, dt.datetime(2026, 1, 2, 3, 5, tzinfo=dt.UTC))
    assert run.finished
    assert runs[0]["conf"]["date_start"] == "2024-01-01"  # a string, as Airflow sent it


# -- progress ----------------------------------------------------------------------------------
def test_progress_counts_each_state_and_the_unlisted() -> None:
    states = ["queued", "running", "running", "success", "failed", None, None, "restarting"]
    progress = count_progress(states, 4.5)
    assert progress == WaitManyProgress(
        queued=1, running=3, success=1, failed=1, unlisted=2, elapsed=4.5
    )
    assert (progress.total, progress.finished, progress.pending) == (8, 2, 6)


def test_tracker_window_starts_at_the_earliest_pending_run() -> None:
    since = T0 - LOOKBACK
    tracker = RunTracker(["a", "b", "c", "a"], since)
    assert tracker.run_ids == ("a", "b", "c")  # each once, in the order given
    assert tracker.window_start() == since  # nothing listed yet: as early as allowed
    tracker.record([ListedRun.from_json(run_json("a", "success", minute=1))])
    tracker.record([ListedRun.from_json(run_json("b", "running", minute=2))])
    assert tracker.window_start() == since  # "c" is not listed yet
    tracker.record(
        [
            ListedRun.from_json(run_json("c", "queued", minute=3)),
            ListedRun.from_json(run_json("someone-elses", "queued", minute=0)),
        ]
    )
    # All listed; "a" finished, so the window opens at b's logical date.
    assert tracker.window_start() == T0 + dt.timedelta(minutes=2)
    assert tracker.pending == {"b", "c"}
    assert tracker.polls == 3
    assert "someone-elses" not in tracker.latest


def test_timeout_message_counts_and_names_a_few() -> None:
    tracker = RunTracker([f"run-{i}" for i in range(6)], T0)
    tracker.record(
        [
            ListedRun.from_json(run_json("run-0", "success")),
            ListedRun.from_json(run_json("run-1", "running")),
            ListedRun.from_json(run_json("run-2", "queued")),
        ]
    )
    message = tracker.timed_out(30)
    assert message.startswith(
        "5 of 6 runs still unfinished after 30 s (1 queued, 1 running, 3 not listed by Airflow "
        "yet): run-1, run-2, run-3 and 2 more; they go on in Airflow."
    )
    assert "triggered before 2026-01-02T03:04:05+00:00: pass since=" in message


# -- the client, against a fake Airflow --------------------------------------------------------
@dataclass
class FakeAirflow:
    """Stands in for urllib3's pool manager: answers the listing endpoints from ``runs``
    (dicts as Airflow serialises them), records every request, and calls ``on_list`` after each
    listing (to move the runs on)."""

    runs: list[dict[str, Any]]
    batch_status: int = 200
    per_dag_status: int = 200
    dag_status: int = 200
    on_list: Callable[[], None] = lambda: None
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def request(self, method: str, url: str, fields: Any = None, body: Any = None, **_: Any):
        path = urlsplit(url).path
        params = json.loads(body) if body else dict(fields or parse_qsl(urlsplit(url).query))
        self.requests.append((method, path, params))
        if (method, path) == BATCH:
            return self._listing(params, "page_offset", "page_limit", self.batch_status)
        if (method, path) == PER_DAG:
            return self._listing(params, "offset", "limit", self.per_dag_status)
        if path == f"/api/v1/dags/{DAG_ID}":
            return _answer(self.dag_status, {"dag_id": DAG_ID, "is_paused": False})
        if path == "/api/v1/dags":
            return _answer(200, {"dags": [], "total_entries": 0})
        raise AssertionError(f"unexpected request {method} {url}")

    def _listing(self, params: dict[str, Any], offset: str, limit: str, status: int):
        if status != 200:
            return _answer(status, {"title": "Forbidden", "status": status})
        since = dt.datetime.fromisoformat(params["execution_date_gte"])
        assert params["order_by"] == "-id"
        window = [r for r in reversed(self.runs) if _logical(r) >= since]
        start = int(params[offset])
        page = window[start : start + int(params[limit])]
        answer = _answer(200, {"dag_runs": page, "total_entries": len(window)})
        self.on_list()
        return answer

    def listings(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [r for r in self.requests if r[:2] in (BATCH, PER_DAG)]


def _logical(run: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(run["logical_date"])


def _answer(status: int, payload: dict[str, Any]) -> urllib3.HTTPResponse:
    return urllib3.HTTPResponse(
        body=json.dumps(payload).encode(),
        status=status,
        reason={200: "OK", 403: "FORBIDDEN", 404: "NOT FOUND"}.get(status, "?"),
        headers={"Content-Type": "application/json"},
        preload_content=False,
    )


def advance(runs: list[dict[str, Any]], *steps: str) -> Callable[[], None]:
    """After each listing, every run takes the next state of ``steps``."""
    states: Iterator[str] = iter(steps)

    def step() -> None:
        state = next(states, steps[-1])
        for run in runs:
            run["state"] = state
            if state in ("success", "failed"):
                run["end_date"] = (_logical(run) + dt.timedelta(seconds=9)).isoformat()

    return step


@pytest.fixture
def fake() -> FakeAirflow:
    now = dt.datetime.now(dt.UTC)
    runs = [run_json("older", "success")]  # outside the window: never listed
    for i in range(3):
        run = run_json(f"mine-{i}")
        run["logical_date"] = (now + dt.timedelta(milliseconds=i)).isoformat()
        runs.append(run)
    mine = runs[1:]
    return FakeAirflow(runs, on_list=advance(mine, "running", "running", "success"))


def client_for(fake: FakeAirflow) -> RestTriggerClient:
    # api="v1": this fake is Airflow 2's API, and answers no version request
    client = RestTriggerClient(
        "http://airflow.test", "caller", "caller", api="v1", connect_retries=0
    )
    client.transport.api.rest_client.pool_manager = fake  # every request of the client
    return client


MINE = ["mine-0", "mine-1", "mine-2"]


def test_one_batch_listing_per_poll_and_no_request_per_run(fake: FakeAirflow) -> None:
    seen: list[WaitManyProgress] = []
    with client_for(fake) as client:
        result = client.wait_many(MINE, poll_interval=0, on_progress=seen.append)
    assert result.ok and result.states == dict.fromkeys(MINE, "success")
    assert list(result.runs) == MINE
    assert all(run.end_date is not None for run in result.runs.values())
    assert [(p.queued, p.running, p.success) for p in seen] == [
        (3, 0, 0),
        (0, 3, 0),
        (0, 3, 0),
        (0, 0, 3),
    ]
    assert result.polls == len(seen) == 4
    # Exactly one request per poll, each the batch listing of this DAG from the lookback on.
    assert [r[:2] for r in fake.requests] == [BATCH] * 4
    first = fake.requests[0][2]
    since = dt.datetime.fromisoformat(first.pop("execution_date_gte"))
    assert first == {
        "dag_ids": [DAG_ID],
        "page_limit": 100,
        "page_offset": 0,
        "order_by": "-id",
    }
    assert since.tzinfo is not None
    assert dt.timedelta(0) < dt.datetime.now(dt.UTC) - LOOKBACK - since < dt.timedelta(minutes=1)
    # Once all are listed the window opens at the earliest of them (mine-0's logical date).
    later = dt.datetime.fromisoformat(fake.requests[1][2]["execution_date_gte"])
    assert later == _logical(fake.runs[1])


def test_a_refused_batch_listing_falls_back_to_the_dags_listing_once(fake: FakeAirflow) -> None:
    fake.batch_status = 403  # a role that may read this DAG's runs only (RestTriggerCaller)
    with client_for(fake) as client:
        result = client.wait_many(MINE, poll_interval=0)
        assert result.ok
        assert [r[:2] for r in fake.requests] == [BATCH] + [PER_DAG] * result.polls
        params = fake.requests[1][2]
        # the query string, as the URL carries it
        assert (params["limit"], params["offset"], params["order_by"]) == ("100", "0", "-id")
        # The client remembers: a later wait goes to the DAG's listing directly.
        fake.requests.clear()
        assert client.wait_many(MINE).ok
        assert [r[:2] for r in fake.requests] == [PER_DAG]


def test_an_account_that_may_not_see_the_dag_gets_the_403_error(fake: FakeAirflow) -> None:
    fake.batch_status = fake.per_dag_status = fake.dag_status = 403
    with (
        client_for(fake) as client,
        pytest.raises(DagNotFound, match=r"may not see it \(HTTP 403\)"),
    ):
        client.wait_many(MINE, timeout=0)


def test_a_missing_dag_is_told_after_the_first_empty_poll(fake: FakeAirflow) -> None:
    fake.dag_status = 404
    with client_for(fake) as client, pytest.raises(DagNotFound, match=r"HTTP 404"):
        client.wait_many(["never-created"], timeout=0)
    assert len(fake.listings()) == 1


def test_timeout_says_how_many_are_unfinished(fake: FakeAirflow) -> None:
    fake.on_list = lambda: None  # the runs stay queued
    with client_for(fake) as client, pytest.raises(WaitTimedOut) as timed_out:
        client.wait_many([*MINE, "not-yet"], timeout=0)
    assert str(timed_out.value).startswith(
        "4 of 4 runs still unfinished after 0 s (3 queued, 0 running, 1 not listed by Airflow "
        "yet): mine-0, mine-1, mine-2 and 1 more"
    )
    assert len(fake.listings()) == 1


def test_nothing_to_wait_for_asks_nothing(fake: FakeAirflow) -> None:
    with client_for(fake) as client:
        result = client.wait_many([])
    assert (result.runs, result.polls, fake.requests) == ({}, 0, [])
