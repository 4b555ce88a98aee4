"""What ``make run`` does when one of its processes exits or it is told to stop: the restart
policy (backoff, and a cap on restarts within a window), and the stop signals (any number of
SIGINT/SIGTERM; only the first interrupts, later ones may hurry, none abandons the stop)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

# GNU make forwards the SIGTERM a supervisor sends to `make run`'s process group, so one
# "stop" arrives twice; Ctrl-C pressed twice is also two. Only a third signal asks to hurry.
HURRY_AFTER = 3


@dataclass
class RestartPolicy:
    """Restart after 1, 2, 4 ... seconds (at most ``max_delay``); give up when ``max_restarts``
    restarts already happened within the last ``window`` seconds."""

    max_restarts: int = 5
    window: float = 600.0
    first_delay: float = 1.0
    max_delay: float = 30.0
    restarts: list[float] = field(default_factory=list)  # when each restart was decided

    def next_delay(self, now: float) -> float | None:
        """Seconds to wait before the next restart, or None when the cap is reached."""
        self.restarts = [t for t in self.restarts if now - t < self.window]
        if len(self.restarts) >= self.max_restarts:
            return None
        delay = min(self.max_delay, self.first_delay * 2 ** len(self.restarts))
        self.restarts.append(now)
        return delay


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"{returncode} ({signal.Signals(-returncode).name})"
        except ValueError:
            return str(returncode)
    return str(returncode)


def _say_unbuffered(message: str) -> None:
    """One write(2): a handler must not print, since print() may be mid-write in the main thread
    ("reentrant call" RuntimeError, which would escape into the stop it interrupted)."""
    with contextlib.suppress(OSError):
        os.write(sys.stdout.fileno(), f"[make run] {message}\n".encode())


class StopSignals:
    """SIGINT and SIGTERM: the first raises KeyboardInterrupt in the main thread (to leave
    start-up or supervision and stop); the rest never raise, so stopping always completes.
    From the HURRY_AFTER-th on, ``hurry`` is set: the Airflow processes are killed without
    waiting out their grace period (PostgreSQL is still stopped properly)."""

    def __init__(self, say: Callable[[str], None] | None = None):
        self.say = say or _say_unbuffered
        self.received = 0
        self.stopping = False
        self.hurry = threading.Event()

    def install(self) -> None:
        # Both explicitly: a shell that starts `make run` in the background leaves SIGINT ignored.
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def begin_stop(self) -> None:
        """From here on a signal cannot interrupt: called before any stop, whatever caused it."""
        self.stopping = True

    def _handle(self, signum: int, frame: object) -> None:
        self.received += 1
        if not self.stopping:
            self.stopping = True
            raise KeyboardInterrupt
        if self.received >= HURRY_AFTER and not self.hurry.is_set():
            self.hurry.set()
            self.say("hurrying: killing the Airflow processes now; PostgreSQL still stops cleanly")
        elif not self.hurry.is_set():
            self.say(f"already stopping ({signal.Signals(signum).name} again: it will complete)")
