"""Waiting for many runs at once: what one poll asks Airflow and what its answers mean.

One poll is one run listing for all the runs still waited for (apache/airflow#27782), not a
GET per run: ``POST /dags/~/dagRuns/list`` with ``execution_date_gte`` (/api/v1;
``run_after_gte`` on /api/v2, where the client's runs have no logical date) no later than the
earliest such date among them, paged by ``page_offset``. The listing has no run-id filter
in /api/v1, so the runs waited for are picked out here. Everything in this module is pure
(no HTTP): ``RestTriggerClient.wait_many`` supplies the requests.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rest_trigger_client.results import TERMINAL_STATES

# Airflow's [api] maximum_page_limit (airflow.cfg): the GET listing caps a page to it.
PAGE_LIMIT = 100
# Newest first: the runs a caller waits for are usually the newest ones, so the first page
# usually holds all of them and the paging stops there (see collect_wanted).
ORDER_BY = "-id"
# How long before the wait a run that no poll has listed yet may have been triggered. A run's
# logical date is the server's clock at the trigger, so this also absorbs clock skew.
LOOKBACK = dt.timedelta(minutes=10)
SHOWN_IDS = 3  # run ids named in a timeout message

RunJson = Mapping[str, Any]
Page = tuple[Sequence[RunJson], int]  # one page's dag_runs, and total_entries
# (execution_date_gte or run_after_gte, page_offset) -> that page of the listing
FetchPage = Callable[[dt.datetime, int], Page]


@dataclass(frozen=True)
class ListedRun:
    """A run as a listing showed it."""

    run_id: str
    state: str  # queued, running, success, failed
    # The date the listings filter on: the logical date on /api/v1, run_after on /api/v2
    logical_date: dt.datetime | None
    end_date: dt.datetime | None

    @classmethod
    def from_json(cls, run: RunJson) -> ListedRun:
        return cls(
            run_id=str(run["dag_run_id"]),
            state=str(run.get("state") or "queued"),
            # /api/v2's runs all have run_after (/api/v1's none), and its listing filters on it
            logical_date=parse_timestamp(
                run.get("run_after") or run.get("logical_date") or run.get("execution_date")
            ),
            end_date=parse_timestamp(run.get("end_date")),
        )

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class WaitManyProgress:
    """One poll's counts over every run waited for."""

    queued: int
    running: int
    success: int
    failed: int
    unlisted: int  # not listed by Airflow (yet): pending, like queued
    elapsed: float  # seconds since waiting started

    @property
    def total(self) -> int:
        return self.queued + self.running + self.success + self.failed + self.unlisted

    @property
    def finished(self) -> int:
        return self.success + self.failed

    @property
    def pending(self) -> int:
        return self.total - self.finished


@dataclass(frozen=True)
class WaitManyResult:
    runs: Mapping[str, ListedRun]  # every run waited for, finished, in the order given
    elapsed: float
    polls: int

    @property
    def states(self) -> dict[str, str]:
        return {run_id: run.state for run_id, run in self.runs.items()}

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(run_id for run_id, run in self.runs.items() if run.state != "success")

    @property
    def ok(self) -> bool:
        return not self.failed


def parse_timestamp(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    return as_utc(dt.datetime.fromisoformat(str(value)))


def as_utc(value: dt.datetime) -> dt.datetime:
    """Aware, as the API's filters require (it refuses a naive time); naive means UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_page(data: bytes) -> Page:
    """A listing answer, read as JSON (the generated DAGRun model would turn conf strings that
    look like dates into dates, and building up to 100 models per page costs CPU for nothing)."""
    payload = json.loads(data)
    runs = payload.get("dag_runs") or []
    return runs, int(payload.get("total_entries") or 0)


def collect_wanted(
    fetch: FetchPage, since: dt.datetime, wanted: Collection[str]
) -> list[ListedRun]:
    """Page through one listing and return the wanted runs it holds.

    Pages follow each other while the listing has more (``total_entries``; a server may cap a
    page below PAGE_LIMIT) and stop once every wanted run has been seen: newest first, what is
    left is older."""
    found: dict[str, ListedRun] = {}
    offset = 0
    while True:
        runs, total = fetch(since, offset)
        for run in runs:
            if run.get("dag_run_id") in wanted:
                found[str(run["dag_run_id"])] = ListedRun.from_json(run)
        offset += len(runs)
        if not runs or offset >= total or len(found) == len(wanted):
            return list(found.values())


def count_progress(states: Iterable[str | None], elapsed: float) -> WaitManyProgress:
    """Counts by state; ``None`` is a run not listed (yet)."""
    counts = {"queued": 0, "running": 0, "success": 0, "failed": 0, "unlisted": 0}
    for state in states:
        if state is None:
            counts["unlisted"] += 1
        else:
            # Airflow 2's run states are these four; anything else is still going.
            counts[state if state in counts else "running"] += 1
    return WaitManyProgress(elapsed=elapsed, **counts)


class RunTracker:
    """What the polls have shown so far of the runs waited for."""

    def __init__(self, run_ids: Iterable[str], unlisted_since: dt.datetime):
        self.run_ids = tuple(dict.fromkeys(run_ids))  # each once, in the caller's order
        self._wanted = frozenset(self.run_ids)
        self.unlisted_since = unlisted_since
        self.latest: dict[str, ListedRun] = {}
        self.polls = 0

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(r for r in self.run_ids if not self._finished(r))

    def _finished(self, run_id: str) -> bool:
        run = self.latest.get(run_id)
        return run is not None and run.finished

    def window_start(self) -> dt.datetime:
        """``execution_date_gte`` for the next poll: the earliest logical date among the runs
        still pending. Finished runs no longer hold the window open; a run not listed yet may
        have been triggered as early as ``unlisted_since``."""
        dates = []
        for run_id in self.pending:
            run = self.latest.get(run_id)
            known = run.logical_date if run else None
            dates.append(known or self.unlisted_since)
        return min(dates, default=self.unlisted_since)

    def record(self, listed: Iterable[ListedRun]) -> None:
        self.polls += 1
        for run in listed:
            if run.run_id in self._wanted:
                self.latest[run.run_id] = run

    def progress(self, elapsed: float) -> WaitManyProgress:
        return count_progress(
            (self.latest[r].state if r in self.latest else None for r in self.run_ids), elapsed
        )

    def result(self, elapsed: float) -> WaitManyResult:
        runs = {run_id: self.latest[run_id] for run_id in self.run_ids}
        return WaitManyResult(runs=runs, elapsed=elapsed, polls=self.polls)

    def timed_out(self, timeout: float) -> str:
        """The one-line WaitTimedOut message: how many are unfinished, and a few of them."""
        progress = self.progress(0.0)
        pending = [r for r in self.run_ids if not self._finished(r)]
        shown = ", ".join(pending[:SHOWN_IDS])
        more = f" and {len(pending) - SHOWN_IDS} more" if len(pending) > SHOWN_IDS else ""
        hint = ""
        if progress.unlisted:
            hint = (
                ". A run no poll listed was not created, or was triggered before "
                f"{self.unlisted_since.isoformat(timespec='seconds')}: pass since="
            )
        return (
            f"{len(pending)} of {len(self.run_ids)} runs still unfinished after {timeout:g} s "
            f"({progress.queued} queued, {progress.running} running, {progress.unlisted} not "
            f"listed by Airflow yet): {shown}{more}; they go on in Airflow{hint}"
        )
