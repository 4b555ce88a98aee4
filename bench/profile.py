"""``make profile`` / ``python -m bench.profile``: where the task processes' CPU goes.

Starts the project stack (as ``make run`` does, on free ports; ``--airflow 3``: as ``make run
AIRFLOW=3`` does), sends warm-up runs, then samples with ``py-spy record --subprocesses`` while
sequential runs go through, and prints the samples by kind of process and the top functions
inside the task processes:

- Airflow 2.11: the scheduler and every process it forks (LocalExecutor workers, each task's
  supervisor ``airflow tasks run --local`` and its raw task ``--raw``).
- Airflow 3: the scheduler and what it forks (LocalExecutor workers, which supervise each task
  in-process, and the task runner each forks), and the api-server, whose execution API every
  task process calls through its supervisor (start, XCom, state); the API's routes (execution
  API, REST API, FAB's token route) are listed with their inclusive share.

``--burst N`` samples a burst instead of sequential runs: N runs POSTed by ``--callers``
callers, as the bench's burst section posts them (bench/measure.py burst), the callers' logins
included in the samples; the report adds the sampled time per POST in ``trigger_dag_run``.

py-spy slows what it samples: read shares, not times (docs/benchmarks.md has profiles taken
this way).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench import measure, runs, stack
from bench.cpu import is_api_server
from bench.stats import machine
from rest_trigger_local.settings import PROJECT_DIR

# Airflow 2.11: process titles tell the kinds apart (checked in this order).
KINDS = (
    ("task supervisor", "task supervisor (airflow tasks run --local)"),
    ("task runner", "raw task (airflow tasks run --raw)"),
    ("LocalExecutor", "LocalExecutor worker"),
    ("scheduler", "scheduler"),
)
# Airflow 3: a worker keeps its "<idle>" title in py-spy's samples (read once) and its task
# runner starts with the worker's, so the depth under the scheduler tells them apart.
SUPERVISOR_3 = "task supervisor (LocalExecutor worker: supervise_task)"
RUNNER_3 = "task runner (forked by the supervisor)"
API_SERVER = "api-server (execution API and REST API)"
KINDS_3_BY_DEPTH = {1: "scheduler", 2: SUPERVISOR_3, 3: RUNNER_3}
# A route handler of 3.x's FastAPI apps: the execution API, the REST API, FAB's /auth/token.
ROUTE_MARKERS = ("api_fastapi/", "/routes/")
TRIGGER_ROUTE = "trigger_dag_run ("
_LINE = re.compile(r":\d+\)$")


def _processes(frames: list[str]) -> list[str]:
    return [f for f in frames if f.startswith("process ")]


def kind_of(frames: list[str]) -> str:
    """The kind of the innermost process in a py-spy --subprocesses stack (Airflow 2.11)."""
    processes = _processes(frames)
    innermost = processes[-1] if processes else ""
    return next((label for key, label in KINDS if key in innermost), "other")


def kind_of_3(frames: list[str]) -> str:
    """The same on Airflow 3: the api-server by its title, the rest by depth (see above)."""
    processes = _processes(frames)
    if any(is_api_server(p) for p in processes):
        return API_SERVER
    if not processes or "scheduler" not in processes[0]:
        return "other"
    kind = KINDS_3_BY_DEPTH.get(len(processes), "other")
    if kind == SUPERVISOR_3 and "LocalExecutor" not in processes[-1]:
        return "other"  # the scheduler's other children: serve-logs
    return kind


def summarise(raw: str, airflow: int = 2) -> dict[str, collections.Counter[str]]:
    """Samples by kind of process ("" key); per kind the self time of each function; and, under
    "routes", the inclusive samples of each API route (Airflow 3)."""
    classify = kind_of if airflow == 2 else kind_of_3
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.splitlines():
        stack_text, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack_text.split(";")
        kind = classify(frames)
        out[""][kind] += int(count)
        code = [_LINE.sub(")", f) for f in frames if not f.startswith("process ")]
        if code:
            out[kind][code[-1]] += int(count)
        for route in {f for f in code if all(m in f for m in ROUTE_MARKERS)}:
            out["routes"][route] += int(count)
    return out


def sampled_ms_per_call(
    summary: dict[str, collections.Counter[str]], prefix: str, calls: int, rate: int
) -> float | None:
    """The sampled time per call of the route whose function name starts with `prefix`
    (inclusive samples / rate / calls): CPU time while py-spy slows it, so an upper bound."""
    samples = sum(n for f, n in summary.get("routes", {}).items() if f.startswith(prefix))
    return round(samples / rate / calls * 1000, 1) if calls and samples else None


def report(summary: dict[str, collections.Counter[str]], top: int = 12) -> str:
    kinds = summary[""]
    total = sum(kinds.values()) or 1
    lines = ["| kind of process | samples | share |", "| --- | --- | --- |"]
    lines += [f"| {k} | {n} | {n / total:.0%} |" for k, n in kinds.most_common()]
    for label in (KINDS[0][1], KINDS[1][1], SUPERVISOR_3, RUNNER_3, API_SERVER):
        own = summary.get(label)
        if not own:
            continue
        count = sum(own.values())
        lines += ["", f"Top functions (self) in the {label}:", "", "| function | share |"]
        lines += ["| --- | --- |"]
        lines += [f"| `{f}` | {n / count:.0%} |" for f, n in own.most_common(top)]
    routes = summary.get("routes")
    if routes:
        api = sum(summary[API_SERVER].values()) or 1
        lines += ["", "API routes (inclusive, share of the api-server's samples):", ""]
        lines += ["| route | share |", "| --- | --- |"]
        lines += [f"| `{f}` | {n / api:.0%} |" for f, n in routes.most_common(top)]
    return "\n".join(lines) + "\n"


def _say(message: str) -> None:
    sys.stderr.write(f"[profile] {message}\n")


def _spy(spy: str, pid: int, rate: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
         "--rate", str(rate), "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=20, help="sequential runs while sampling")
    p.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    p.add_argument("--demo-rows", type=int, default=100_000)
    p.add_argument(
        "--airflow", type=int, choices=(2, 3), default=2, help="2.11 or 3 (.venv-airflow3)"
    )
    p.add_argument("--burst", type=int, default=0, help="sample a burst of this many runs instead")
    p.add_argument("--callers", type=int, default=10, help="concurrent callers in --burst")
    p.add_argument("--out", type=Path, help="default: bench/results/profile[-airflow3].txt")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        sys.exit("py-spy is not installed (it is in requirements-dev.txt: make venv)")
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    facts = machine()  # before the stack starts: its load average is the machine's own
    suffix = "" if args.airflow == 2 else "-airflow3"
    out = args.out or PROJECT_DIR / f"bench/results/profile{suffix}.txt"
    s = stack.start("project" if args.airflow == 2 else "airflow3", args.demo_rows)
    try:
        import psutil

        launcher = psutil.Process(s.process.pid)
        children = {" ".join(c.cmdline()): c.pid for c in launcher.children()}
        targets = [pid for line, pid in children.items() if "scheduler" in line]
        if args.airflow == 3:
            targets += [pid for line, pid in children.items() if is_api_server(line)]
        if len(targets) != (1 if args.airflow == 2 else 2):
            sys.exit(f"expected the scheduler (and on 3 the api-server) in {sorted(children)}")
        caller = runs.caller_client(s)
        runs.wait_dag_served(caller.transport)
        prefix = f"profile-{uuid.uuid4().hex[:6]}"
        for i in range(2):  # warm-up: first runs pay one-time costs
            runs.run_to_end(caller, f"{prefix}-warm-{i}")
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            burst: dict[str, Any] = {}
            paths = [Path(folder) / f"raw-{pid}.txt" for pid in targets]
            recorders = [
                _spy(spy, pid, args.rate, path) for pid, path in zip(targets, paths, strict=True)
            ]
            if args.burst:
                burst = measure.burst(s, args.burst, args.callers, say=_say)
                if burst["succeeded"] != args.burst:
                    sys.exit(f"the burst did not succeed whole: {burst}")
            else:
                for i in range(args.runs):
                    runs.run_to_end(caller, f"{prefix}-{i}")
            for recorder in recorders:
                recorder.send_signal(signal.SIGINT)
            for recorder in recorders:
                recorder.wait(timeout=120)
            raw = "".join(path.read_text() for path in paths)
        out.write_text(raw)
        caller.close()
    finally:
        stack.stop(s)
        shutil.rmtree(s.state_dir, ignore_errors=True)
    version = "2.11" if args.airflow == 2 else "3"
    what = (
        f"a burst of {args.burst} runs POSTed by {args.callers} callers (their logins included)"
        if args.burst
        else f"{args.runs} sequential runs"
    )
    sys.stdout.write(
        f"Profiled {started} at commit {facts['commit'] or 'unknown'}, Airflow {version} "
        f"({'.venv' if args.airflow == 2 else '.venv-airflow3'}), {what} "
        f"after 2 warm-up runs, py-spy at {args.rate} Hz. Machine: {facts['cores']} cores, "
        f"{facts['cpu_model']}, {facts['memory_mib']} MiB, kernel {facts['kernel']}; "
        f"load average at start {facts['load_at_start']}.\n\n"
    )
    summary = summarise(raw, args.airflow)
    sys.stdout.write(report(summary))
    if args.burst:
        per_post = sampled_ms_per_call(summary, TRIGGER_ROUTE, args.burst, args.rate)
        sys.stdout.write(
            f"\nBurst: POST p50 / p95 {burst['post_s']['median']} / {burst['post_s']['p95']} s "
            f"(py-spy attached); sampled time in `trigger_dag_run` per POST: {per_post} ms.\n"
        )
    sys.stderr.write(f"[profile] raw samples in {out} (flame graph: py-spy's raw format)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
