"""The password-guessing throttle's counting (plain functions, a clock moved by hand): who is
locked, for how long, and that memory stays bounded. Against the live API: test_security_e2e.py."""

from __future__ import annotations

from rest_trigger_api.login_throttle import LoginThrottle

from tests.support.clock import ManualClock


def test_a_username_is_locked_after_its_limit_until_the_oldest_failure_leaves_the_window() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(window=300, per_user=3, per_address=100, clock=clock)
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


def test_an_address_is_locked_after_its_limit_whatever_the_usernames() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(window=60, per_user=100, per_address=4, clock=clock)
    for n in range(4):
        assert throttle.retry_after(f"user{n}", "192.0.2.7") is None
        throttle.failed(f"user{n}", "192.0.2.7")
    assert throttle.retry_after("anyone", "192.0.2.7") == 60
    assert throttle.retry_after("anyone", "192.0.2.8") is None


def test_a_flood_keeps_the_lock_and_bounded_memory() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(window=60, per_user=5, per_address=20, max_keys=50, clock=clock)
    for n in range(10_000):
        throttle.failed(f"guess{n}", f"198.51.100.{n % 256}")
        assert len(throttle) <= 50
    for times in throttle._failures.values():
        assert len(times) <= 20


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(window=60, per_user=3, per_address=3, clock=clock)
    for _ in range(20):
        throttle.failed("caller", "127.0.0.1")
        clock.now += 30  # two failures in any window of 60 s: under the limit of 3
        assert throttle.retry_after("caller", "127.0.0.1") is None
