"""The markdown tables ``make bench`` prints (and docs/benchmarks.md quotes).

Over 250 lines because every table reads the same result JSON through the same formatting
helpers, one function a table (latency, burst, 2.11 vs 3.3.2, waiting on 3.3.2, floor, parse,
scale, goals);
split, each part would import the helpers and nothing else.
"""

from __future__ import annotations

from typing import Any

TARGETS = "targets on a 2-core machine"
# The speed goals (issue 20), the same for each Airflow version: sequential POST to success, a
# burst's throughput, its CPU per run (everything, PostgreSQL included) and its POST p95.
GOAL_POST_TO_SUCCESS_S = 0.7
GOAL_RUNS_PER_MINUTE = 100
GOAL_CPU_PER_RUN_S = 1.0
GOAL_BURST_POST_P95_S = 0.25


def speed_checks(
    version: str, lat: dict[str, Any] | None, b: dict[str, Any] | None
) -> list[tuple[str, bool, str]]:
    """The speed goals against one version's sequential runs and burst; a goal is met only if
    it holds both by Airflow's timestamps and as the caller saw it."""
    checks: list[tuple[str, bool, str]] = []
    if lat:
        med = lat["post_to_success_s"]["median"]
        seen = (lat.get("caller_post_to_success_s") or {}).get("median")
        checks.append(
            (
                f"{version}: POST to success, sequential, median <= {GOAL_POST_TO_SUCCESS_S} s",
                med <= GOAL_POST_TO_SUCCESS_S and (seen or 99) <= GOAL_POST_TO_SUCCESS_S,
                f"{_s(med)} (Airflow), {_s(seen)} (caller); "
                f"{lat.get('cpu_per_run_s')} CPU-s per run",
            )
        )
    if b:
        rate, seen_rate = b["runs_per_minute"] or 0, b.get("caller_runs_per_minute") or 0
        server_errors = b.get("post_5xx", 0)  # results files before it was counted have none
        checks += [
            (
                f"{version}: burst, all succeed, none missing",
                b["failed"] == 0 and b["missing"] == 0 and b["succeeded"] == b["runs"],
                f"{b['succeeded']}/{b['runs']}",
            ),
            (
                f"{version}: burst, no POST answered 5xx",
                not server_errors,
                f"{server_errors} 5xx"
                + (" (tracebacks: server_tracebacks)" if server_errors else "")
                + (
                    f"; {b['post_retried']} retried after a lost race"
                    if b.get("post_retried")
                    else ""
                ),
            ),
            (
                f"{version}: burst >= {GOAL_RUNS_PER_MINUTE} runs/min",
                min(rate, seen_rate) >= GOAL_RUNS_PER_MINUTE,
                f"{b['runs_per_minute']} (Airflow's end_dates), {seen_rate} (as the caller saw it)",
            ),
            (
                f"{version}: burst, CPU per run, all processes <= {GOAL_CPU_PER_RUN_S} CPU-s",
                (b.get("cpu_per_run_s") or 99) <= GOAL_CPU_PER_RUN_S,
                f"{b.get('cpu_per_run_s')} CPU-s",
            ),
            (
                f"{version}: burst POST p95 < {_ms(GOAL_BURST_POST_P95_S)}",
                b["post_s"]["p95"] < GOAL_BURST_POST_P95_S,
                _ms(b["post_s"]["p95"]),
            ),
        ]
    return checks


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _mp(summary: dict[str, Any] | None, fmt: Any = _s) -> str:
    if not summary or not summary.get("n"):
        return "-"
    return f"{fmt(summary['median'])} / {fmt(summary['p95'])}"


def _ok(flag: bool) -> str:
    return "met" if flag else "**not met**"


def _ratio(slow: dict[str, Any], fast: dict[str, Any], key: str) -> float:
    a, b = (slow.get(key) or {}).get("median"), (fast.get(key) or {}).get("median")
    return a / b if a and b else 0.0


def _x(new: float | None, old: float | None) -> str:
    """new / old, as the same-run ratio of the two Airflow versions."""
    return f"{new / old:.2f}x" if new and old else "-"


def _med(summary: dict[str, Any] | None) -> float | None:
    return (summary or {}).get("median")


def versions_table(r: dict[str, Any]) -> list[str]:
    """The project on Airflow 2.11 vs the same project on Airflow 3, measured in the same
    invocation on the same machine (one stack at a time), with the ratio 3 / 2.11."""
    lp, l3 = r.get("latency_project") or {}, r.get("latency_airflow3") or {}
    bp, b3 = r.get("burst") or {}, r.get("burst_airflow3") or {}
    a3 = r.get("airflow3") or {}
    if not (l3 or b3 or a3):
        return []
    old = f"Airflow {r['machine'].get('airflow', '2')}"
    new = f"Airflow {a3.get('airflow') or '3'}"
    start_old, start_new = r.get("project_stack_start_s"), a3.get("stack_start_s")
    rows: list[tuple[str, str, str, str]] = [
        ("stack start-up (launcher to ready)", _s(start_old), _s(start_new),
         _x(start_new, start_old)),
    ]  # fmt: skip
    if lp or l3:
        rows.append(("sequential runs measured", str(lp.get("runs", "-")),
                     str(l3.get("runs", "-")), ""))  # fmt: skip
        for label, key in (
            ("POST to success, Airflow's end_date (median / p95)", "post_to_success_s"),
            ("POST to success, as the caller saw it (median / p95)", "caller_post_to_success_s"),
        ):
            rows.append((label, _mp(lp.get(key)), _mp(l3.get(key)),
                         _x(_med(l3.get(key)), _med(lp.get(key)))))  # fmt: skip
        post_old = (lp.get("breakdown_s") or {}).get("post")
        post_new = (l3.get("breakdown_s") or {}).get("post")
        rows.append(("POST answered in (median / p95)", _mp(post_old, _ms), _mp(post_new, _ms),
                     _x(_med(post_new), _med(post_old))))  # fmt: skip
        rows.append(("CPU-s per sequential run (all processes)",
                     str(lp.get("cpu_per_run_s", "-")), str(l3.get("cpu_per_run_s", "-")),
                     _x(l3.get("cpu_per_run_s"), lp.get("cpu_per_run_s"))))  # fmt: skip
    if bp or b3:
        rows.append(("burst: runs posted by concurrent callers",
                     f"{bp.get('runs', '-')} by {bp.get('callers', '-')}",
                     f"{b3.get('runs', '-')} by {b3.get('callers', '-')}", ""))  # fmt: skip
        for label, key in (
            ("burst runs per minute (Airflow's end_dates)", "runs_per_minute"),
            ("burst runs per minute, as the caller saw it", "caller_runs_per_minute"),
            ("burst CPU-s per run (all processes)", "cpu_per_run_s"),
        ):
            rows.append((label, str(bp.get(key, "-")), str(b3.get(key, "-")),
                         _x(b3.get(key), bp.get(key))))  # fmt: skip
        rows.append(("burst POST latency (median / p95)", _mp(bp.get("post_s"), _ms),
                     _mp(b3.get("post_s"), _ms),
                     _x(_med(b3.get("post_s")), _med(bp.get("post_s")))))  # fmt: skip
        rows.append(("burst: each caller's first request, before it (login, median / p95)",
                     _mp(bp.get("caller_first_request_s"), _ms),
                     _mp(b3.get("caller_first_request_s"), _ms),
                     _x(_med(b3.get("caller_first_request_s")),
                        _med(bp.get("caller_first_request_s")))))  # fmt: skip
        rows.append(
            (
                "burst succeeded / failed / missing",
                "/".join(str(bp.get(k, "-")) for k in ("succeeded", "failed", "missing")),
                "/".join(str(b3.get(k, "-")) for k in ("succeeded", "failed", "missing")),
                "",
            )
        )
    out = [
        f"### {old} vs {new}: the project stack, same invocation, same machine",
        "",
        f"| measure | {old} | {new} | {new.split()[-1]} / {old.split()[-1]} |",
        "| --- | --- | --- | --- |",
    ]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    out.append("")
    bd_old, bd_new = lp.get("breakdown_s") or {}, l3.get("breakdown_s") or {}
    if bd_new:
        out += [
            f"### Where a sequential run's time goes, {old} vs {new} (median / p95)",
            "",
            f"| step | {old} | {new} |",
            "| --- | --- | --- |",
        ]
        for key in list(bd_old) + [k for k in bd_new if k not in bd_old]:
            out.append(f"| {key} | {_mp(bd_old.get(key), _ms)} | {_mp(bd_new.get(key), _ms)} |")
        out.append("")
    return out


def _n(summary: dict[str, Any] | None) -> str:
    """A count's median / p95 (requests per run)."""
    if not summary or not summary.get("n"):
        return "-"
    return f"{summary['median']:g} / {summary['p95']:g}"


def waiting_table(r: dict[str, Any]) -> list[str]:
    """Waiting on Airflow 3: polling vs the wait stream, per run and for wait_many."""
    w = r.get("waiting_airflow3") or {}
    if not w:
        return []
    airflow = (r.get("airflow3") or {}).get("airflow") or "3"
    poll, stream = w.get("polling") or {}, w.get("stream") or {}
    interval = w.get("interval_s", 1.0)
    out = [
        f"### Waiting on Airflow {airflow}: polling vs the wait stream "
        f"({w.get('runs', '-')} sequential runs each, interval {interval:g} s)",
        "",
        "| measure | polling | wait stream |",
        "| --- | --- | --- |",
        f"| requests per run, client's count (median / p95) | "
        f"{_n(poll.get('requests_per_run'))} | {_n(stream.get('requests_per_run'))} |",
        f"| requests per run, api-server access log (median / p95) | "
        f"{_n(poll.get('access_log_requests_per_run'))} | "
        f"{_n(stream.get('access_log_requests_per_run'))} |",
        f"| run end (end_date) to caller knows (median / p95) | "
        f"{_mp(poll.get('run_end_to_caller_knows_s'))} | "
        f"{_mp(stream.get('run_end_to_caller_knows_s'))} |",
        "",
    ]
    many = w.get("many") or []
    if many:
        out += [
            "| wait_many | listing: requests | streams: requests | listing: last end to "
            "caller knows | streams: last end to caller knows |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in many:
            listing, streams = row.get("listing") or {}, row.get("streams") or {}
            out.append(
                f"| {row['runs']} runs | {_logged(listing)} | {_logged(streams)} | "
                f"{_s(listing.get('last_end_to_caller_knows_s'))} | "
                f"{_s(streams.get('last_end_to_caller_knows_s'))} |"
            )
        out.append("")
    return out


def _logged(way: dict[str, Any]) -> str:
    """The client's count, and the access log's where it differs."""
    client, server = way.get("requests"), way.get("access_log_requests")
    if client is None:
        return "-"
    return f"{client}" if server in (None, client) else f"{client} (access log {server})"


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [
        f"Measured {r.get('started', '?')} at commit {m.get('commit') or 'unknown'}.",
        "",
        f"Machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_mib']} MiB, "
        f"Python {m['python']}, "
        f"Airflow {m['airflow']}; load average at start {m['load_at_start']}"
        + ("" if r.get("load_wait", {}).get("quiet", True) else " (**busy machine**)")
        + (" - quick run, small counts" if r.get("quick") else ""),
        "",
    ]
    checks: list[tuple[str, bool, str]] = []
    lp, ls = r.get("latency_project"), r.get("latency_stock")
    if lp or ls:
        poll = (lp or ls or {}).get("caller_poll_s")
        out += [
            "### POST to success, sequential runs (median / p95)",
            "",
            "| configuration | runs | POST to success (Airflow's end_date) | as the caller saw it "
            f"(polling every {poll} s) | POST answered in | CPU-s per run (all processes) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, lat in (
            ("project (airflow.cfg, LocalExecutor, PostgreSQL)", lp),
            ("stock Airflow 2.11 (SQLite, SequentialExecutor)", ls),
        ):
            if lat:
                out.append(
                    f"| {name} | {lat['runs']} | {_mp(lat['post_to_success_s'])} | "
                    f"{_mp(lat.get('caller_post_to_success_s'))} | "
                    f"{_mp(lat['breakdown_s'].get('post'), _ms)} | "
                    f"{lat.get('cpu_per_run_s', '-')} |"
                )
        if lp and ls:
            ratio = _ratio(ls, lp, "post_to_success_s")
            seen = _ratio(ls, lp, "caller_post_to_success_s")
            cpu = (ls.get("cpu_per_run_s") or 0) / max(lp.get("cpu_per_run_s") or 0, 1e-9)
            out.append(
                f"| **stock / project** | | **{ratio:.1f}x** | **{seen:.1f}x** | | {cpu:.1f}x |"
            )
            checks.append(
                (
                    "POST to success >= 10x faster than stock, same invocation",
                    min(ratio, seen) >= 10,
                    f"{ratio:.1f}x (Airflow's timestamps), {seen:.1f}x (as the caller saw it)",
                )
            )
        out.append("")
    if lp:
        out += [
            "### Where a project run's time goes (median / p95, from Airflow's timestamps)",
            "",
            "| step | time |",
            "| --- | --- |",
        ]
        for key, value in lp["breakdown_s"].items():
            out.append(f"| {key} | {_mp(value, _ms)} |")
        out.append("")
    b = r.get("burst")
    if b:
        out += [
            f"### Burst: {b['runs']} runs posted by {b['callers']} concurrent callers",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| POST latency p50 / p95 | {_mp(b['post_s'], _ms)} |",
            f"| each caller's first request, before the burst (login) | "
            f"{_mp(b.get('caller_first_request_s'), _ms)} |",
            f"| all finished after | {_s(b['all_finished_s'])} |",
            f"| runs per minute | {b['runs_per_minute']} |",
            f"| POST to success per run, median / p95 | {_mp(b['post_to_success_s'])} |",
            f"| succeeded / failed / missing | {b['succeeded']} / {b['failed']} / {b['missing']} |",
            f"| all finished, as the caller saw it ({b.get('caller_polls')} run listings) | "
            f"{_s(b.get('caller_all_finished_s'))} |",
            f"| runs per minute, as the caller saw it | {b.get('caller_runs_per_minute')} |",
            f"| CPU-s per run, all processes (PostgreSQL included) | {b.get('cpu_per_run_s')} |",
        ]
        if b.get("cpu_s"):
            budget = (r["machine"]["cores"] or 1) * b["cpu_window_s"]
            out.append(f"| CPU available in that window ({r['machine']['cores']} cores) | "
                       f"{budget:.0f} s |")  # fmt: skip
            out += [f"| CPU used: {name} | {sec:.1f} s |" for name, sec in b["cpu_s"].items()]
        out.append("")
    checks += speed_checks(f"Airflow {r['machine'].get('airflow', '2')}", lp, b)
    checks += speed_checks(
        f"Airflow {(r.get('airflow3') or {}).get('airflow') or '3'}",
        r.get("latency_airflow3"),
        r.get("burst_airflow3"),
    )
    out += versions_table(r)
    out += waiting_table(r)
    f = r.get("floor")
    if f:
        out += [
            "### The floor: the useful work alone (median / p95)",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| `dag.test()`: both tasks in one process, no scheduler or forks | "
            f"{_mp(f['dag_test_s'])} ({_mp(f['dag_test_cpu_s'])} CPU-s) |",
            f"| pusher's run in it | {_mp(f['pusher_s'], _ms)} |",
            f"| main_etl's run in it (query, DataFrame, load) | {_mp(f['main_etl_s'], _ms)} |",
            f"| the count query alone (driver, relay) | {_mp(f['query_s'], _ms)} |",
        ]
        if lp:
            share = f["dag_test_s"]["median"] / lp["post_to_success_s"]["median"]
            out.append(f"| share of a POST to success that is this work | {share:.0%} |")
        out.append("")
    p = r.get("parse")
    if p:
        out += [
            "### DAG file parse (median / p95)",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| `airflow dags report` duration | {_mp(p['dags_report_s'], _ms)} |",
            f"| DagBag of the file, fresh process, after `import airflow` | "
            f"{_mp(p['first_parse_s'], _ms)} |",
            f"| DagBag of the file again (as the DAG processor and each task re-parse it) | "
            f"{_mp(p['reparse_s'], _ms)} |",
            f"| `import airflow` in that process | {_mp(p['import_airflow_s'], _ms)} |",
            f"| metadata DB queries while parsing | {p['db_queries']} |",
            f"| modules the file imports beyond `import airflow` | {len(p['new_modules'])} |",
            "",
        ]
        checks += [
            (
                "DAG parse < 100 ms",
                p["dags_report_s"]["median"] < 0.1,
                _ms(p["dags_report_s"]["median"]),
            ),
            ("zero DB queries at parse", p["db_queries"] == 0, str(p["db_queries"])),
        ]
    sc = r.get("scale")
    if sc:
        out += [
            "### main_etl against the demo data's size (median / p95)",
            "",
            "| activity rows | matching rows | query (driver, relay) | main_etl task | plan |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in sc:
            plan = "; ".join(row["plan"]["nodes"])
            out.append(
                f"| {row['rows']:,} | {', '.join(map(str, row['totals']))} | "
                f"{_mp(row['query_s'], _ms)} | {_mp(row['main_etl_s'])} | {plan} |"
            )
        out.append("")
        if len(sc) >= 2:
            first, last = sc[0], sc[-1]
            growth = last["query_s"]["median"] / max(first["query_s"]["median"], 1e-9)
            rows_growth = last["rows"] / first["rows"]
            checks.append(
                (
                    "query time sublinear in rows",
                    growth < rows_growth,
                    f"x{growth:.1f} time for x{rows_growth:.0f} rows",
                )
            )
    for name, error in r.get("errors", {}).items():
        out.append(f"**{name} failed**: {error}")
        checks.append((f"{name} ran", False, "error"))
    if checks:
        out += [f"### Targets ({TARGETS})", "", "| target | measured | |", "| --- | --- | --- |"]
        out += [f"| {name} | {value} | {_ok(flag)} |" for name, flag, value in checks]
        out.append("")
        if not all(flag for _, flag, _ in checks):
            out += [
                "Goals not met: where the CPU goes and what bounds each gap are in "
                "docs/benchmarks.md (Gaps, and what bounds them); `make profile` samples the "
                "task processes again on this machine.",
                "",
            ]
    return "\n".join(out) + "\n"
