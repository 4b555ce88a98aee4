"""Basic auth for ``/api/v1`` that verifies a password once a minute, not on every request, and
refuses password guessing before it reaches the password hash.

The FAB provider's basic-auth backend checks the password against its scrypt hash on every
request: about 0.1 s of CPU each (docs/benchmarks.md). A caller that polls its run once a
second burns a tenth of a core on hashing alone, and a burst of callers queues behind it.

This backend does what FAB's does, with two things in front of it:

- **The cache.** A verified (username, password) pair is remembered for ``[rest_trigger_api]
  credential_cache_seconds`` (60), as an HMAC under a per-process random key
  (verified_logins.py). Every request still loads the user by id and requires it to be active
  with the same username: deactivating or deleting a user takes effect at once; a changed
  password leaves the old one valid for at most that long. Naming FAB's own backend in
  ``[api] auth_backends`` instead of this one turns the cache (and the throttle) off; so does
  ``credential_cache_seconds = 0``.
- **The throttle** (switch ``login_throttle``, off unless set): login_policy.py's policy, the
  same one that guards POST /auth/token on Airflow 3. After ``login_failures_per_user`` (5)
  failed logins for one username, or ``login_failures_per_address`` (20) from one client
  address, within ``login_window_seconds`` (300), further attempts get 429 with
  ``Retry-After`` without the hash being run. A pair that verified within a day is still
  checked normally, so a caller with the right password is not locked out by someone guessing
  at its name or sharing its address. Counts and known pairs are in the metadata database
  (login_store.py), so they hold whichever ``[webserver] workers`` process answers, and across
  restarts; the credential cache above stays per process (it only saves hashing). The address
  is the TCP peer's (behind a proxy, turn on ``[webserver] enable_proxy_fix`` so it is the
  client's).

Anything neither remembered nor throttled goes through FAB's own check, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from connexion import ProblemException
from flask import Response, current_app, request

from rest_trigger_api.login_policy import LoginPolicy
from rest_trigger_api.switches import enabled, setting
from rest_trigger_api.verified_logins import VerifiedLogins, login_message

__all__ = ["CLIENT_AUTH", "VerifiedLogins", "init_app", "login_message", "requires_authentication"]

CLIENT_AUTH: Any = None  # the interface Airflow's API client reads; unused here

T = TypeVar("T", bound=Callable[..., Any])


class _State:
    """This process's cache, and the shared policy, built from the configuration on first use."""

    def __init__(self) -> None:
        self.verified = VerifiedLogins(ttl=setting("credential_cache_seconds"))
        self.policy = LoginPolicy.from_config() if enabled("login_throttle") else None


_state: _State | None = None


def _get_state() -> _State:
    global _state
    if _state is None:
        _state = _State()
    return _state


def init_app(_app: Any) -> None:
    """Nothing to set up (the interface Airflow calls)."""


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _authenticate() -> Any:
    """The user, or None. Raises Throttled instead of checking a throttled login's password."""
    from airflow.providers.fab.auth_manager.api.auth.backend import basic_auth
    from airflow.www.extensions.init_auth_manager import get_auth_manager
    from flask_login import login_user

    auth = request.authorization
    if auth is None or not auth.username or not auth.password:
        return None
    state = _get_state()
    user_id = state.verified.user_id(auth.username, auth.password)
    if user_id is not None:
        user = get_auth_manager().security_manager.get_user_by_id(user_id)
        if user is not None and user.is_active and user.username == auth.username:
            login_user(user, remember=False)
            return user
    address = request.remote_addr or ""
    policy = state.policy
    if policy is not None:
        wait = policy.refusal(auth.username, auth.password, address)
        if wait is not None:
            raise Throttled(wait)
    user = basic_auth.auth_current_user()  # FAB's check: the scrypt hash, LDAP if configured
    if user is None:
        if policy is not None:
            policy.failed(auth.username, address)
        return None
    state.verified.remember(auth.username, auth.password, user.id)
    if policy is not None:
        policy.succeeded(auth.username, auth.password)
    return user


def requires_authentication(function: T) -> T:
    """FAB's basic-auth decorator, with the cache and the throttle in front of its check."""

    @wraps(function)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        try:
            user = _authenticate()
        except Throttled as throttled:
            # Raised, not returned: Airflow calls this decorator from check_authentication(),
            # which reads any answer but 200 as "try the next backend", then says 401. Its
            # error handler turns a ProblemException into the response, headers included.
            raise ProblemException(
                status=429,
                title="Too Many Requests",
                detail=f"too many failed logins; retry after {throttled.retry_after} s",
                headers={"Retry-After": str(throttled.retry_after)},
            ) from None
        if user is not None:
            return function(*args, **kwargs)
        if not request.headers.get("Authorization") and current_app.config.get("AUTH_ROLE_PUBLIC"):
            return function(*args, **kwargs)
        return Response("Unauthorized", 401, {"WWW-Authenticate": "Basic"})

    return cast(T, decorated)
