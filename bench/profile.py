"""``make profile`` / ``python -m bench.profile``: where the task processes' CPU goes.

Starts the project stack (as ``make run`` does, on free ports), sends warm-up runs, then samples
the scheduler and every process it forks (LocalExecutor workers, each task's supervisor and raw
task) with ``py-spy record --subprocesses`` while sequential runs go through, and prints the
samples by kind of process and the top functions inside the task processes. py-spy slows what
it samples: read shares, not times (docs/benchmarks.md has a profile taken this way).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench import runs, stack
from rest_trigger_local.settings import PROJECT_DIR

KINDS = (
    ("task supervisor", "task supervisor (airflow tasks run --local)"),
    ("task runner", "raw task (airflow tasks run --raw)"),
    ("LocalExecutor", "LocalExecutor worker"),
    ("scheduler", "scheduler"),
)
_LINE = re.compile(r":\d+\)$")


def kind_of(frames: list[str]) -> str:
    """The kind of the innermost process in a py-spy --subprocesses stack."""
    processes = [f for f in frames if f.startswith("process ")]
    innermost = processes[-1] if processes else ""
    return next((label for key, label in KINDS if key in innermost), "other")


def summarise(raw: str) -> dict[str, collections.Counter[str]]:
    """Samples by kind of process ("" key), and per kind the self time of each function."""
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.splitlines():
        stack_text, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack_text.split(";")
        kind = kind_of(frames)
        out[""][kind] += int(count)
        code = [f for f in frames if not f.startswith("process ")]
        if code:
            out[kind][_LINE.sub(")", code[-1])] += int(count)
    return out


def report(summary: dict[str, collections.Counter[str]], top: int = 12) -> str:
    kinds = summary[""]
    total = sum(kinds.values()) or 1
    lines = ["| kind of process | samples | share |", "| --- | --- | --- |"]
    lines += [f"| {k} | {n} | {n / total:.0%} |" for k, n in kinds.most_common()]
    for _, label in KINDS[:2]:
        own = summary.get(label)
        if not own:
            continue
        count = sum(own.values())
        lines += ["", f"Top functions (self) in the {label}:", "", "| function | share |"]
        lines += ["| --- | --- |"]
        lines += [f"| `{f}` | {n / count:.0%} |" for f, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=20, help="sequential runs while sampling")
    p.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    p.add_argument("--demo-rows", type=int, default=100_000)
    p.add_argument("--out", type=Path, default=PROJECT_DIR / "bench/results/profile.txt")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        sys.exit("py-spy is not installed (it is in requirements-dev.txt: make venv)")
    s = stack.start("project", args.demo_rows)
    try:
        import psutil

        launcher = psutil.Process(s.process.pid)
        scheduler = next(c for c in launcher.children() if "scheduler" in " ".join(c.cmdline()))
        caller = runs.caller_client(s)
        runs.wait_dag_served(caller.transport)
        prefix = f"profile-{uuid.uuid4().hex[:6]}"
        for i in range(2):  # warm-up: first runs pay one-time costs
            runs.run_to_end(caller, f"{prefix}-warm-{i}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            raw_path = Path(folder) / "raw.txt"
            recorder = subprocess.Popen(
                [spy, "record", "--pid", str(scheduler.pid), "--subprocesses", "--nonblocking",
                 "--rate", str(args.rate), "--format", "raw", "--output", str(raw_path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for i in range(args.runs):
                runs.run_to_end(caller, f"{prefix}-{i}")
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=120)
            raw = raw_path.read_text()
        args.out.write_text(raw)
        caller.close()
    finally:
        stack.stop(s)
        shutil.rmtree(s.state_dir, ignore_errors=True)
    sys.stdout.write(report(summarise(raw)))
    sys.stderr.write(f"[profile] raw samples in {args.out} (flame graph: py-spy's raw format)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
