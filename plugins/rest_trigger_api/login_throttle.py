"""Failed-login counting for the API's basic auth: which usernames and client addresses have
failed too often within a sliding window, and for how long they stay refused."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    """Failures per username and per client address, each in a sliding window of
    ``window`` seconds. A key with ``limit`` failures in the window is locked until the oldest
    of them leaves it. Memory is bounded: at most ``max_keys`` keys, expired ones dropped first,
    then the oldest."""

    def __init__(
        self,
        window: float,
        per_user: int,
        per_address: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self._limits = {"user": per_user, "address": per_address}
        self._max_keys = max_keys
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("user", username), ("address", address)]

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, username: str, address: str) -> int | None:
        """Whole seconds until this login may be tried again, or None if it may be tried now."""
        now = self._clock()
        waits = []
        with self._lock:
            for key in self._keys(username, address):
                limit = self._limits[key[0]]
                times = self._recent(key, now)
                if limit > 0 and len(times) >= limit:
                    # Locked until enough failures have left the window to be under the limit.
                    frees_at = times[len(times) - limit] + self.window
                    waits.append(max(1, math.ceil(frees_at - now)))
        return max(waits) if waits else None

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key in self._keys(username, address):
                times = self._recent(key, now)
                times.append(now)
                # Keep no more than the limit needs: a flood must not grow a deque.
                while len(times) > max(1, self._limits[key[0]]):
                    times.popleft()
                self._failures[key] = times
            if len(self._failures) > self._max_keys:
                for stale in [k for k in self._failures if not self._recent(k, now)]:
                    self._failures.pop(stale, None)
                while len(self._failures) > self._max_keys:
                    self._failures.pop(next(iter(self._failures)))

    def __len__(self) -> int:
        return len(self._failures)
