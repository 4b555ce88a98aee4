"""Basic auth for ``/api/v1`` that verifies a password once a minute, not on every request.

The FAB provider's basic-auth backend checks the password against its scrypt hash on every
request: about 0.1 s of CPU each (docs/benchmarks.md). A caller that polls its run once a
second burns a tenth of a core on hashing alone, and a burst of callers queues behind it.

This backend does what FAB's does, and remembers a verified (username, password) pair for
``TTL_SECONDS``. What it keeps is an HMAC of the pair under a key drawn at random per process,
so neither the password nor a hash usable elsewhere is held. Every request still loads the user
by id and requires it to be active with the same username: deactivating or deleting a user
takes effect at once; a changed password leaves the old one valid for at most TTL_SECONDS.
Anything not remembered goes through FAB's own check, unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, request

CLIENT_AUTH: Any = None  # the interface Airflow's API client reads; unused here
TTL_SECONDS = 60.0
MAX_ENTRIES = 1024

T = TypeVar("T", bound=Callable[..., Any])


class VerifiedLogins:
    """Recently verified logins: HMAC(username, password) -> (expiry, user id)."""

    def __init__(
        self,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = os.urandom(32)
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _digest(self, username: str, password: str) -> bytes:
        message = username.encode() + b"\0" + password.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def user_id(self, username: str, password: str) -> int | None:
        digest = self._digest(username, password)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[digest]
                return None
            return entry[1]

    def remember(self, username: str, password: str, user_id: int) -> None:
        digest = self._digest(username, password)
        now = self._clock()
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max_entries:
                    self._entries.clear()
            self._entries[digest] = (now + self._ttl, user_id)

    def __len__(self) -> int:
        return len(self._entries)


_verified = VerifiedLogins()


def init_app(_app: Any) -> None:
    """Nothing to set up (the interface Airflow calls)."""


def _authenticate() -> Any:
    from airflow.providers.fab.auth_manager.api.auth.backend import basic_auth
    from airflow.www.extensions.init_auth_manager import get_auth_manager
    from flask_login import login_user

    auth = request.authorization
    if auth is None or not auth.username or not auth.password:
        return None
    user_id = _verified.user_id(auth.username, auth.password)
    if user_id is not None:
        user = get_auth_manager().security_manager.get_user_by_id(user_id)
        if user is not None and user.is_active and user.username == auth.username:
            login_user(user, remember=False)
            return user
    user = basic_auth.auth_current_user()  # FAB's check: the scrypt hash, LDAP if configured
    if user is not None:
        _verified.remember(auth.username, auth.password, user.id)
    return user


def requires_authentication(function: T) -> T:
    """FAB's basic-auth decorator, with the remembered logins in front of its check."""

    @wraps(function)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        if _authenticate() is not None:
            return function(*args, **kwargs)
        if not request.headers.get("Authorization") and current_app.config.get("AUTH_ROLE_PUBLIC"):
            return function(*args, **kwargs)
        return Response("Unauthorized", 401, {"WWW-Authenticate": "Basic"})

    return cast(T, decorated)
