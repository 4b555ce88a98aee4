"""The restart policy of `make run`'s supervision: backoff, and a cap on restarts in a window.
Times are given to it, so this checks its arithmetic, not the clock."""

from __future__ import annotations

from rest_trigger_local.supervision import RestartPolicy, describe_exit


def test_backoff_doubles_up_to_the_maximum() -> None:
    policy = RestartPolicy(max_restarts=10, window=600, first_delay=1, max_delay=8)
    assert [policy.next_delay(float(t)) for t in range(6)] == [1, 2, 4, 8, 8, 8]


def test_the_cap_counts_only_restarts_within_the_window() -> None:
    policy = RestartPolicy(max_restarts=2, window=100)
    assert policy.next_delay(0) == 1
    assert policy.next_delay(10) == 2
    assert policy.next_delay(20) is None  # a third within 100 s: give up
    # Once the first restart is older than the window, there is room for one more.
    assert policy.next_delay(100.5) == 2
    assert policy.next_delay(105) is None


def test_a_cap_of_zero_never_restarts() -> None:
    assert RestartPolicy(max_restarts=0).next_delay(0) is None


def test_exit_codes_name_their_signal() -> None:
    assert describe_exit(-9) == "-9 (SIGKILL)"
    assert describe_exit(1) == "1"
