"""The password-guessing throttle's counting, in the shared store (login_store.py) on SQLite and
on a real PostgreSQL, with a clock moved by hand: who is locked, for how long, that every worker
sees the same counts, and that the store stays bounded. Against the live API:
tests/e2e/test_security_e2e.py (2.11, two workers), tests/e2e/test_airflow3_stack.py (3.x)."""

from __future__ import annotations

from rest_trigger_api.login_store import ensure_tables, failures, metadata
from rest_trigger_api.login_throttle import LoginThrottle
from sqlalchemy import inspect, select

from tests.support.clock import ManualClock


def test_a_username_is_locked_after_its_limit_until_the_oldest_failure_leaves_the_window(
    engines,
) -> None:
    clock = ManualClock()
    throttle = LoginThrottle(engines(), window=300, per_user=3, per_address=100, clock=clock)
    for n in range(3):
        assert throttle.retry_after("caller", "10.0.0.1") is None
        throttle.failed("caller", f"10.0.0.{n}")  # from different addresses: the name counts
        clock.now += 10
    # Failures at t=0, 10, 20; now t=30: locked until the first leaves the window at t=300.
    assert throttle.retry_after("caller", "10.0.0.9") == 270
    assert throttle.retry_after("someone-else", "10.0.0.9") is None
    clock.now += 269.5
    assert throttle.retry_after("caller", "10.0.0.9") == 1  # whole seconds, rounded up
    clock.now += 0.5
    assert throttle.retry_after("caller", "10.0.0.9") is None


def test_an_address_is_locked_after_its_limit_whatever_the_usernames(engines) -> None:
    clock = ManualClock()
    throttle = LoginThrottle(engines(), window=60, per_user=100, per_address=4, clock=clock)
    for n in range(4):
        assert throttle.retry_after(f"user{n}", "192.0.2.7") is None
        throttle.failed(f"user{n}", "192.0.2.7")
    assert throttle.retry_after("anyone", "192.0.2.7") == 60
    assert throttle.retry_after("anyone", "192.0.2.8") is None


def test_workers_share_one_count_and_a_restart_keeps_it(engines) -> None:
    """Two throttles on two engines are two worker processes: failures answered by either count
    toward one limit, and a third started afterwards (a restarted webserver) sees the lock."""
    clock = ManualClock()
    workers = [
        LoginThrottle(engines(), window=300, per_user=5, per_address=20, clock=clock)
        for _ in range(2)
    ]
    answered = 0
    for n in range(10):
        worker = workers[n % 2]
        if worker.retry_after("caller", "127.0.0.1") is not None:
            break
        worker.failed("caller", "127.0.0.1")
        answered += 1
    assert answered == 5  # not 5 per worker
    restarted = LoginThrottle(engines(), window=300, per_user=5, per_address=20, clock=clock)
    assert restarted.retry_after("caller", "127.0.0.1") == 300


def test_a_flood_keeps_the_lock_and_a_bounded_store(engines) -> None:
    clock = ManualClock()
    engine = engines()
    throttle = LoginThrottle(engine, window=60, per_user=5, per_address=20, clock=clock)
    for _ in range(200):
        throttle.failed("caller", "198.51.100.1")  # past the lock: each key keeps its limit
    assert throttle.retry_after("caller", "198.51.100.1") == 60
    assert len(throttle) == 5 + 20
    for n in range(50):
        throttle.failed(f"guess{n}", f"198.51.100.{n}")
    clock.now += 61  # everything has left the window: the next failure sweeps it away
    throttle.failed("late", "203.0.113.1")
    with engine.connect() as conn:
        rows = conn.execute(select(failures.c.kind, failures.c.key)).all()
    assert sorted(rows) == [("address", "203.0.113.1"), ("user", "late")]


def test_failures_spread_wider_than_the_window_never_lock(engines) -> None:
    clock = ManualClock()
    throttle = LoginThrottle(engines(), window=60, per_user=3, per_address=3, clock=clock)
    for _ in range(20):
        throttle.failed("caller", "127.0.0.1")
        clock.now += 30  # two failures in any window of 60 s: under the limit of 3
        assert throttle.retry_after("caller", "127.0.0.1") is None


def test_the_tables_are_created_once_and_creating_them_again_is_harmless(engines) -> None:
    first, second = engines(), engines()
    ensure_tables(first)
    ensure_tables(first)  # remembered for this engine
    ensure_tables(second)  # another process: they exist, checkfirst finds them
    present = set(inspect(second).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= present, present
