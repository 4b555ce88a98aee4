"""The one password-guessing policy, for both versions: 2.11's basic auth on /api/v1
(cached_basic_auth.py) and 3.x's POST /auth/token (token_guard.py) ask it the same questions.

After ``[rest_trigger_api] login_failures_per_user`` (5) failed logins for one username, or
``login_failures_per_address`` (20) from one client address, within ``login_window_seconds``
(300), a login is refused with 429 and ``Retry-After`` before its password is checked, unless
that exact (username, password) passed the check within the last day: a caller with the right
password is never locked out by someone guessing at its name or sharing its address, while the
right password never verified before is refused like a guess (a lock that opened for it would
tell the guesser it was right). Counts and known logins are in the metadata database
(login_store.py): every worker, on every host, and every restart sees the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_trigger_api.login_throttle import LoginThrottle
from rest_trigger_api.verified_logins import KnownLogins

KNOWN_GOOD_SECONDS = 24 * 3600


@dataclass
class LoginPolicy:
    throttle: LoginThrottle
    known: KnownLogins

    def refusal(self, username: str, password: str, address: str) -> int | None:
        """Seconds to send in Retry-After if this login must not be checked now, else None."""
        wait = self.throttle.retry_after(username, address)
        if wait is None or (username, password) in self.known:
            return None
        return wait

    def failed(self, username: str, address: str) -> None:
        self.throttle.failed(username, address)

    def succeeded(self, username: str, password: str) -> None:
        self.known.remember(username, password)

    @classmethod
    def from_config(cls) -> LoginPolicy:
        """From airflow.cfg's [rest_trigger_api], on this process's metadata-database engine,
        keyed with this Airflow's secret key."""
        from airflow.configuration import conf

        from rest_trigger_api.login_store import airflow_engine
        from rest_trigger_api.switches import setting
        from rest_trigger_api.verified_logins import shared_key
        from rest_trigger_etl.airflow_compat import is_airflow_2

        engine = airflow_engine()
        # The Flask secret key every worker already shares: [webserver] on 2.11, [api] on 3.x.
        secret_key = conf.get("webserver" if is_airflow_2() else "api", "secret_key")
        return cls(
            throttle=LoginThrottle(
                engine,
                window=setting("login_window_seconds"),
                per_user=setting("login_failures_per_user"),
                per_address=setting("login_failures_per_address"),
            ),
            known=KnownLogins(engine, shared_key(secret_key), ttl=KNOWN_GOOD_SECONDS),
        )
