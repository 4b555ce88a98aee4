"""Logins verified against their password hash, kept as keyed digests (no passwords): in this
process for a minute (VerifiedLogins, the credential cache), and in the metadata database for a
day (KnownLogins, what lets a caller with the right password past the login throttle).

KnownLogins' key is derived from the webserver / api-server secret key (``[webserver]
secret_key`` on 2.11, ``[api] secret_key`` on 3.x), which every worker must already share for
Airflow's own sessions; a per-process random key would make each worker, and each restart,
forget who is known. What that trades: someone holding both the metadata database and the
secret key can test password guesses offline against a known login's digest at HMAC-SHA256
speed (millions a second), instead of scrypt's ~10 a second against ``ab_user``; only logins
that succeeded within the last day have a digest. Either one alone gives nothing: the digest
without the key, or the key without the digests (which already lets its holder forge 2.11's
session cookies). Rotating the secret key forgets every known login: callers then wait out a
lock like anyone else until they log in once unthrottled.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from rest_trigger_api.login_store import ensure_tables, known_logins

KNOWN_LOGIN_PURPOSE = b"rest-trigger known logins v1"


def login_message(username: str, password: str) -> bytes:
    """(username, password) as bytes that name exactly one pair: each part length-prefixed, so
    no choice of characters (a NUL included) lets two pairs share an encoding."""
    parts = [part.encode("utf-8", "surrogatepass") for part in (username, password)]
    return b"".join(len(part).to_bytes(8, "big") + part for part in parts)


class VerifiedLogins:
    """HMAC(username, password) -> (expiry, user id), under a key drawn at random per process:
    neither the password nor a hash usable outside this process is held."""

    def __init__(
        self,
        ttl: float = 60.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = os.urandom(32)
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _digest(self, username: str, password: str) -> bytes:
        return hmac.new(self._key, login_message(username, password), hashlib.sha256).digest()

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
        if self._ttl <= 0:
            return
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


def shared_key(secret_key: str) -> bytes:
    """The known-login key for a webserver / api-server secret key: derived, so the digests are
    useless for anything the secret key itself signs, and the secret key is not used raw."""
    if not secret_key:
        raise ValueError("the secret key is empty: every worker would derive a different key")
    return hmac.new(secret_key.encode(), KNOWN_LOGIN_PURPOSE, hashlib.sha256).digest()


class KnownLogins:
    """HMAC(username, password) under a key all workers share -> expiry, in the metadata
    database. Only the pair's digest is stored: no username, no user id."""

    def __init__(
        self,
        engine: Any,
        key: bytes,
        ttl: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._key = key
        self._ttl = ttl
        self._clock = clock
        ensure_tables(engine)

    def _digest(self, username: str, password: str) -> str:
        return hmac.new(self._key, login_message(username, password), hashlib.sha256).hexdigest()

    def __contains__(self, login: tuple[str, str]) -> bool:
        query = select(known_logins.c.expires_at).where(
            known_logins.c.digest == self._digest(*login)
        )
        with self._engine.connect() as conn:
            expires_at = conn.execute(query).scalar()
        return expires_at is not None and expires_at > self._clock()

    def remember(self, username: str, password: str) -> None:
        if self._ttl <= 0:
            return
        digest, now = self._digest(username, password), self._clock()
        expires_at = now + self._ttl
        try:
            with self._engine.begin() as conn:
                conn.execute(delete(known_logins).where(known_logins.c.expires_at <= now))
                renewed = conn.execute(
                    update(known_logins)
                    .where(known_logins.c.digest == digest)
                    .values(expires_at=expires_at)
                )
                if renewed.rowcount == 0:
                    conn.execute(known_logins.insert().values(digest=digest, expires_at=expires_at))
        except IntegrityError:
            pass  # another worker inserted the same login just now: it is remembered
