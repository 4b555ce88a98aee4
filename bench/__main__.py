"""``make bench`` / ``python -m bench``: start the stacks, measure, print a markdown table and
write the figures as JSON (bench/results/latest.json). One stack at a time (2 cores): the
project on Airflow 2.11, the stock Airflow 2.11 stack, then the project on Airflow 3."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import measure, probes, stack, waiting
from bench.report import markdown
from bench.stats import loadavg, machine, wait_for_quiet

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("latency", "stock", "burst", "floor", "parse", "scale", "airflow3", "waiting")
# Sections that start a stack of their own; the others share the project's 2.11 stack.
# "airflow3" and "waiting" share one stack on Airflow 3.3.2.
OWN_STACK = ("stock", "airflow3", "waiting")
AIRFLOW3 = ("airflow3", "waiting")


def say(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="small counts for a quick check (not for published figures)",
    )
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}",
    )
    p.add_argument("--latency-runs", type=int, default=30, help="sequential runs, project config")
    p.add_argument("--stock-runs", type=int, default=12, help="sequential runs, stock config")
    p.add_argument("--warmup", type=int, default=2, help="runs before measuring, per config")
    p.add_argument("--burst", type=int, default=100, help="runs posted at once")
    p.add_argument("--callers", type=int, default=10, help="concurrent callers in the burst")
    p.add_argument(
        "--demo-rows",
        type=int,
        default=1_000_000,
        help="demo activity rows for latency and burst (make run's default)",
    )
    p.add_argument(
        "--scale-sizes",
        default="100000,1000000,10000000",
        help="activity rows for the query-scale section",
    )
    p.add_argument("--scale-runs", type=int, default=5, help="full runs per size")
    p.add_argument("--queries", type=int, default=20, help="direct query timings per size")
    p.add_argument("--floor-runs", type=int, default=5, help="dag.test() runs for the floor")
    p.add_argument("--parse-reports", type=int, default=5, help="`airflow dags report` calls")
    p.add_argument("--parse-probes", type=int, default=10, help="fresh-process parse probes")
    p.add_argument(
        "--wait-runs", type=int, default=10, help="waiting: sequential runs per way (Airflow 3)"
    )
    p.add_argument(
        "--wait-many-sizes", default="2,4,8", help="waiting: wait_many's run counts (Airflow 3)"
    )
    p.add_argument(
        "--wait-load",
        type=float,
        default=0.7,
        help="wait until the 1-min load average is below this (0: don't wait)",
    )
    p.add_argument("--wait-timeout", type=float, default=1800, help="longest wait for it, s")
    p.add_argument("--out", type=Path, help="default: bench/results/latest.json (quick.json)")
    p.add_argument("--copy-to", type=Path, help="also write the JSON here (e.g. docs/...)")
    args = p.parse_args(argv)
    if args.quick:
        args.latency_runs, args.stock_runs, args.warmup = 5, 2, 1
        args.burst, args.parse_reports, args.parse_probes = 20, 1, 3
        args.floor_runs = 2
        args.wait_runs, args.wait_many_sizes = 3, "3"
        args.scale_sizes, args.scale_runs, args.queries = "10000,100000", 2, 5
        args.demo_rows, args.wait_load = 100_000, 0
    # A quick check never overwrites the figures of a full run.
    args.out = args.out or RESULTS / ("quick.json" if args.quick else "latest.json")
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def _section(result: dict[str, Any], name: str, function: Any, *args: Any) -> None:
    """Run one measurement; a failure is recorded (and reported) and the others still run."""
    try:
        result[name] = function(*args)
    except Exception as exc:
        say(f"{name} failed: {exc!r}")
        result.setdefault("errors", {})[name] = "".join(
            traceback.format_exception_only(type(exc), exc)
        ).strip()


def airflow3(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The project on Airflow 3.3.2 (make run AIRFLOW=3), started once the 2.11 stacks are
    stopped: latency and burst with the 2.11 project stack's counts ("airflow3"), into
    result's latency_airflow3 and burst_airflow3, and waiting, polling vs the wait stream
    ("waiting"), into waiting_airflow3 (each a section of its own: one failing does not lose
    the others). Returns the stack's facts: Airflow's version and its start-up time."""
    say("starting the project stack on Airflow 3 (make run AIRFLOW=3)")
    s = stack.start("airflow3", args.demo_rows)
    try:
        version = s.rest.get("/version", timeout=30).json().get("version")
        say(f"Airflow {version} up in {s.started_in:.1f} s")
        if "airflow3" in args.sections:
            say(f"latency, project configuration on Airflow 3: {args.latency_runs} runs")
            _section(result, "latency_airflow3", measure.latency, s, args.latency_runs,
                     args.warmup, say)  # fmt: skip
            say(f"burst on Airflow 3: {args.burst} runs from {args.callers} callers")
            _section(result, "burst_airflow3", measure.burst, s, args.burst, args.callers, say)
        if "waiting" in args.sections:
            sizes = [int(x) for x in args.wait_many_sizes.split(",") if x.strip()]
            say(f"waiting on Airflow 3, polling vs the wait stream: {args.wait_runs} runs "
                f"each; wait_many over {sizes} runs")  # fmt: skip
            _section(result, "waiting_airflow3", waiting.waiting, s, args.wait_runs, sizes, say)
    finally:
        stack.stop(s)
        shutil.rmtree(s.state_dir, ignore_errors=True)
    return {"airflow": version, "stack_start_s": round(s.started_in, 1)}


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    result: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
    }
    if args.wait_load > 0:
        result["load_wait"] = wait_for_quiet(args.wait_load, args.wait_timeout, say)
    result["machine"] = machine()
    say(f"machine: {result['machine']}")
    began = time.monotonic()
    project_sections = [s for s in args.sections if s not in OWN_STACK]
    if project_sections:
        say("starting the project stack (make run's launcher)")
        s = stack.start("project", args.demo_rows)
        result["project_stack_start_s"] = round(s.started_in, 1)
        try:
            if "latency" in args.sections:
                say(f"latency, project configuration: {args.latency_runs} runs")
                _section(result, "latency_project", measure.latency, s, args.latency_runs,
                         args.warmup, say)  # fmt: skip
            if "burst" in args.sections:
                say(f"burst: {args.burst} runs from {args.callers} callers")
                _section(result, "burst", measure.burst, s, args.burst, args.callers, say)
            if "floor" in args.sections:
                say(f"floor: dag.test() {args.floor_runs} times, and the query alone")
                _section(result, "floor", probes.floor, s, args.floor_runs, say)
            if "parse" in args.sections:
                say("parse")
                _section(result, "parse", probes.parse, s, args.parse_reports,
                         args.parse_probes, say)  # fmt: skip
            if "scale" in args.sections:
                sizes = [int(float(x)) for x in args.scale_sizes.split(",")]
                say(f"query scale: {sizes}")
                _section(result, "scale", measure.scale, s, sizes, args.scale_runs,
                         args.queries, say)  # fmt: skip
        finally:
            stack.stop(s)
            shutil.rmtree(s.state_dir, ignore_errors=True)
    if "stock" in args.sections:
        say(f"starting the stock stack; latency, stock settings: {args.stock_runs} runs")
        s = stack.start("stock", args.demo_rows)
        result["stock_stack_start_s"] = round(s.started_in, 1)
        try:
            _section(result, "latency_stock", measure.latency, s, args.stock_runs, args.warmup, say)
        finally:
            stack.stop(s)
            shutil.rmtree(s.state_dir, ignore_errors=True)
    if any(name in args.sections for name in AIRFLOW3):
        _section(result, "airflow3", airflow3, result, args)
    result["load_at_end"] = loadavg()
    result["duration_s"] = round(time.monotonic() - began)
    table = markdown(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(table)
    if args.copy_to:
        args.copy_to.parent.mkdir(parents=True, exist_ok=True)
        args.copy_to.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(table)
    say(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    # The figures that were measured are written either way; a section that failed fails the
    # command, so `make bench` (and its --quick check) cannot pass on a broken measurement.
    if result.get("errors"):
        say(f"failed: {', '.join(sorted(result['errors']))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
