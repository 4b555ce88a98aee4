"""Summaries: median and p95 of a sample, and the machine the figures come from."""

from __future__ import annotations

import os
import platform
import statistics
import time
from importlib import metadata
from pathlib import Path
from typing import Any


def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    """n, median, p95 (linear interpolation between closest ranks), min, max."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    if len(values) == 1:
        p95 = values[0]
    else:
        rank = 0.95 * (len(values) - 1)
        low = int(rank)
        high = min(low + 1, len(values) - 1)
        p95 = values[low] + (values[high] - values[low]) * (rank - low)
    return {
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "p95": round(p95, digits),
        "min": round(values[0], digits),
        "max": round(values[-1], digits),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_for_quiet(threshold: float, timeout: float, say: Any) -> dict[str, Any]:
    """Wait until the 1-minute load average is below threshold, at most timeout seconds."""
    started = time.monotonic()
    while True:
        load = loadavg()
        if load[0] < threshold:
            return {"waited_s": round(time.monotonic() - started), "quiet": True, "load": load}
        if time.monotonic() - started > timeout:
            say(f"load average still {load[0]} after {timeout:.0f} s: measuring on a busy machine")
            return {"waited_s": round(time.monotonic() - started), "quiet": False, "load": load}
        say(f"load average {load[0]} >= {threshold}; waiting for a quieter machine")
        time.sleep(20)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_mib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mib = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_mib": memory_mib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "airflow": metadata.version("apache-airflow"),
        "load_at_start": loadavg(),
        "commit": checkout_commit(),
    }


def checkout_commit() -> str | None:
    """The commit the figures were measured at (``+dirty`` when tracked files differ from it),
    so that a results file says what it measured; None outside a git checkout."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=Path(__file__).resolve().parents[1],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip

    try:
        commit = git("rev-parse", "--short=7", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")
