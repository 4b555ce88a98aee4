"""The policy both versions share (login_policy.py) and the known logins it lets past a lock
(verified_logins.KnownLogins), on SQLite and on a real PostgreSQL: a caller with the right
password is never locked out by guesses at its name, on any worker, after a restart too; the
right password never verified before is refused like a guess."""

from __future__ import annotations

from rest_trigger_api.login_policy import LoginPolicy
from rest_trigger_api.login_store import known_logins
from rest_trigger_api.login_throttle import LoginThrottle
from rest_trigger_api.verified_logins import KnownLogins, shared_key
from sqlalchemy import select

from tests.support.clock import ManualClock

SECRET = "the webserver secret key"


def worker(engines, clock: ManualClock, secret: str = SECRET) -> LoginPolicy:
    """One worker process's policy: its own engine, the shared secret key."""
    engine = engines()
    return LoginPolicy(
        LoginThrottle(engine, window=300, per_user=5, per_address=20, clock=clock),
        KnownLogins(engine, shared_key(secret), clock=clock),
    )


def test_a_known_caller_passes_a_lock_on_its_name_on_every_worker_and_after_a_restart(
    engines,
) -> None:
    clock = ManualClock()
    one, two = worker(engines, clock), worker(engines, clock)
    assert one.refusal("caller", "right", "10.0.0.1") is None
    one.succeeded("caller", "right")  # verified by worker one only
    for _ in range(5):
        assert two.refusal("caller", "guess", "10.0.0.66") is None
        two.failed("caller", "10.0.0.66")
    assert two.refusal("caller", "guess", "10.0.0.66") == 300
    assert two.refusal("caller", "right", "10.0.0.1") is None  # worker two never saw it
    clock.now += 60
    restarted = worker(engines, clock)
    assert restarted.refusal("caller", "guess", "10.0.0.66") == 240
    assert restarted.refusal("caller", "right", "10.0.0.1") is None


def test_the_right_password_never_verified_is_refused_like_a_guess(engines) -> None:
    clock = ManualClock()
    policy = worker(engines, clock)
    for _ in range(5):
        policy.failed("late-user", "10.0.0.66")
    assert policy.refusal("late-user", "right", "10.0.0.1") == 300


def test_a_known_login_expires_after_a_day(engines) -> None:
    clock = ManualClock()
    policy = worker(engines, clock)
    policy.succeeded("caller", "right")
    for _ in range(5):
        policy.failed("caller", "10.0.0.66")
    clock.now += 24 * 3600 - 1
    policy.succeeded("caller", "right")  # renewed by a login: another day from now
    for _ in range(5):
        policy.failed("caller", "10.0.0.66")
    clock.now += 24 * 3600 - 1
    assert policy.refusal("caller", "right", "10.0.0.1") is None
    for _ in range(5):
        policy.failed("caller", "10.0.0.66")
    clock.now += 2  # the day since the last login is over
    assert policy.refusal("caller", "right", "10.0.0.1") == 298


def test_known_logins_hold_only_a_digest_keyed_by_the_shared_secret(engines) -> None:
    clock = ManualClock()
    engine = engines()
    KnownLogins(engine, shared_key(SECRET), clock=clock).remember("caller", "s3cret-pw")
    with engine.connect() as conn:
        rows = conn.execute(select(known_logins)).all()
    assert len(rows) == 1 and "caller" not in rows[0].digest and "s3cret" not in rows[0].digest
    # Another worker with the same secret key knows it; one with another key does not (a
    # rotated secret key forgets every known login).
    assert ("caller", "s3cret-pw") in KnownLogins(engines(), shared_key(SECRET), clock=clock)
    assert ("caller", "s3cret-pw") not in KnownLogins(engines(), shared_key("new"), clock=clock)
    assert ("caller", "other") not in KnownLogins(engines(), shared_key(SECRET), clock=clock)
    assert shared_key(SECRET) != SECRET.encode()  # the secret key is not used raw
