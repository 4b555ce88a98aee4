"""The markdown tables ``make bench`` prints (and docs/benchmarks.md quotes)."""

from __future__ import annotations

from typing import Any

TARGETS = "targets on a 2-core machine"


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


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [
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
        out += [
            "### POST to success, sequential runs (median / p95)",
            "",
            "| configuration | runs | POST to success | POST answered in |",
            "| --- | --- | --- | --- |",
        ]
        for name, lat in (
            ("project (airflow.cfg, LocalExecutor, PostgreSQL)", lp),
            ("stock Airflow 2.11 (SQLite, SequentialExecutor)", ls),
        ):
            if lat:
                out.append(
                    f"| {name} | {lat['runs']} | {_mp(lat['post_to_success_s'])} | "
                    f"{_mp(lat['breakdown_s'].get('post'), _ms)} |"
                )
        if lp and ls:
            ratio = ls["post_to_success_s"]["median"] / lp["post_to_success_s"]["median"]
            out.append(f"| **stock / project** | | **{ratio:.1f}x** | |")
            checks.append(("full run >= 6x faster than stock", ratio >= 6, f"{ratio:.1f}x"))
        if lp:
            med = lp["post_to_success_s"]["median"]
            checks.append(("full run median <= 2.0 s", med <= 2.0, _s(med)))
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
            f"| all finished after | {_s(b['all_finished_s'])} |",
            f"| runs per minute | {b['runs_per_minute']} |",
            f"| POST to success per run, median / p95 | {_mp(b['post_to_success_s'])} |",
            f"| succeeded / failed / missing | {b['succeeded']} / {b['failed']} / {b['missing']} |",
        ]
        if b.get("cpu_s"):
            budget = (r["machine"]["cores"] or 1) * b["cpu_window_s"]
            out.append(f"| CPU available in that window ({r['machine']['cores']} cores) | "
                       f"{budget:.0f} s |")  # fmt: skip
            out += [f"| CPU used: {name} | {sec:.1f} s |" for name, sec in b["cpu_s"].items()]
        out.append("")
        checks += [
            (
                "burst: all succeed, none missing",
                b["failed"] == 0 and b["missing"] == 0 and b["succeeded"] == b["runs"],
                f"{b['succeeded']}/{b['runs']}",
            ),
            (
                "burst >= 100 runs/min",
                (b["runs_per_minute"] or 0) >= 100,
                f"{b['runs_per_minute']}",
            ),
            ("burst POST p95 < 250 ms", b["post_s"]["p95"] < 0.25, _ms(b["post_s"]["p95"])),
        ]
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
    return "\n".join(out) + "\n"
