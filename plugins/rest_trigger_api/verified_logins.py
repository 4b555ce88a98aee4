"""Logins recently verified against their password hash, kept as keyed digests (no passwords)."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable


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
