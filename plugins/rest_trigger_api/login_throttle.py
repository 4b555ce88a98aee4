"""Failed-login counting for the API's logins (2.11's basic auth, 3.x's POST /auth/token): which
usernames and client addresses have failed too often within a sliding window, and for how long
they stay refused. The counts live in the metadata database (login_store.py), so every worker
of every webserver / api-server sees the same ones, before and after a restart."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, delete, func, select

from rest_trigger_api.login_store import MAX_KEY_LENGTH, ensure_tables, failures


class LoginThrottle:
    """Failures per username and per client address, each in a sliding window of ``window``
    seconds. A key with ``limit`` failures in the window is locked until the oldest of them
    leaves it.

    Requests in flight at the moment a key reaches its limit were checked before it did: with
    N requests guessing at once, up to N-1 more passwords can be checked than the limit. One at
    a time (as a test or a patient guesser sends them), the limit is exact."""

    def __init__(
        self,
        engine: Any,
        window: float,
        per_user: int,
        per_address: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self._engine = engine
        self._limits = {"user": per_user, "address": per_address}
        self._clock = clock
        ensure_tables(engine)

    @staticmethod
    def _keys(username: str, address: str) -> list[tuple[str, str]]:
        return [("user", username[:MAX_KEY_LENGTH]), ("address", address[:MAX_KEY_LENGTH])]

    def retry_after(self, username: str, address: str) -> int | None:
        """Whole seconds until this login may be tried again, or None if it may be tried now."""
        now = self._clock()
        waits = []
        with self._engine.connect() as conn:
            for kind, key in self._keys(username, address):
                limit = self._limits[kind]
                if limit <= 0:
                    continue
                # The limit-th newest failure in the window: the lock opens when it leaves.
                newest = (
                    select(failures.c.failed_at)
                    .where(
                        and_(
                            failures.c.kind == kind,
                            failures.c.key == key,
                            failures.c.failed_at > now - self.window,
                        )
                    )
                    .order_by(failures.c.failed_at.desc())
                    .limit(limit)
                )
                times = [row[0] for row in conn.execute(newest)]
                if len(times) >= limit:
                    frees_at = times[limit - 1] + self.window
                    waits.append(max(1, math.ceil(frees_at - now)))
        return max(waits) if waits else None

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        with self._engine.begin() as conn:
            for kind, key in self._keys(username, address):
                conn.execute(failures.insert().values(kind=kind, key=key, failed_at=now))
                # Keep no more than the limit needs: a flood must not grow a key's rows.
                keep = max(1, self._limits[kind])
                kept = (
                    select(failures.c.id)
                    .where(and_(failures.c.kind == kind, failures.c.key == key))
                    .order_by(failures.c.failed_at.desc(), failures.c.id.desc())
                    .limit(keep)
                )
                conn.execute(
                    delete(failures).where(
                        and_(
                            failures.c.kind == kind,
                            failures.c.key == key,
                            failures.c.id.not_in([row[0] for row in conn.execute(kept)]),
                        )
                    )
                )
            # Whatever has left the window, for every key (indexed on failed_at).
            conn.execute(delete(failures).where(failures.c.failed_at <= now - self.window))

    def __len__(self) -> int:
        """Failure rows held (for the tests' bound on memory)."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(failures)).scalar_one())
