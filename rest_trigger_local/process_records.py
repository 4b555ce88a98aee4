"""The processes `make run` started, recorded so that a later start can stop what a crashed one
left behind, and never anything else: a pid is only signalled if its process still has the
start time recorded with it (the kernel reuses pids; a start time pins one process)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or
    None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after the
    # last ')'. What follows starts at field 3, so field 22 is index 19.
    return int(stat.rsplit(")", 1)[1].split()[19])


def record(path: Path, pids: Mapping[str, int]) -> None:
    """Write {name: {"pid", "start_time"}} for processes that lead their own process group."""
    entries = {name: {"pid": pid, "start_time": start_time(pid)} for name, pid in pids.items()}
    path.write_text(json.dumps(entries))


def reap(path: Path, say: Callable[[str], None]) -> None:
    """SIGTERM the process group of each recorded process that is still the one recorded."""
    if not path.exists():
        return
    try:
        entries = json.loads(path.read_text())
    except ValueError:
        entries = {}
    for name, entry in entries.items():
        # An entry without a start time (an older format, or a process gone before it was
        # recorded) cannot be told from a stranger: left alone.
        if not isinstance(entry, dict) or entry.get("start_time") is None:
            continue
        pid = int(entry["pid"])
        now = start_time(pid)
        if now is not None and now != entry["start_time"]:
            continue  # its pid now belongs to another process
        # now is None: the leader is gone. The kernel hands out no pid that is still some
        # process group's id, so if group `pid` still exists it is the one it led (its
        # workers); if not, killpg finds nothing.
        try:
            os.killpg(pid, signal.SIGTERM)
            say(f"stopped a leftover {name} (process group {pid})")
        except (ProcessLookupError, PermissionError):
            pass
    path.unlink()
