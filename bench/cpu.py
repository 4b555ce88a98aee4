"""CPU seconds of every process of a stack, PostgreSQL's included, by kind of process."""

from __future__ import annotations

from bench.stack import Stack


def is_api_server(title: str) -> bool:
    """3.x's api-server by its command line or process title: "airflow api-server" before it
    sets its title, "airflow api_server -- ..." under uvicorn, "gunicorn: master [gunicorn]" and
    its workers under gunicorn. 2.11's webserver is gunicorn too: tell it apart first (its
    titles name "airflow-webserver")."""
    return "api_server" in title or "api-server" in title or "gunicorn" in title


def _category(cmdline: str) -> str:
    if "postgres" in cmdline:
        return "postgres (metadata DB and warehouse)"
    # Airflow 3 titles a LocalExecutor worker "airflow worker -- LocalExecutor: ..." when idle
    # and "airflow worker -- <workload id>" while it runs a task.
    if "LocalExecutor" in cmdline or "airflow worker --" in cmdline:
        return "task processes (LocalExecutor workers and the tasks they fork)"
    if "DagFileProcessor" in cmdline or "dag-processor" in cmdline:
        return "DAG file processor"
    # 2.11's webserver titles its gunicorn "gunicorn: master [airflow-webserver]".
    if "webserver" in cmdline:
        return "webserver (REST API)"
    if is_api_server(cmdline):
        return "api-server (REST API, task execution API)"
    if "scheduler" in cmdline:
        return "scheduler loop"
    if "rest_trigger_local" in cmdline or "stock_stack" in cmdline:
        return "launcher (and warehouse relay)"
    return "other"


def _postmaster(stack: Stack) -> int | None:
    """The embedded PostgreSQL's postmaster, found by its port: as root it runs as its own user
    and may keep its data outside the state folder, so neither the launcher's process tree nor
    the state folder leads to it."""
    import psutil

    port = str(stack.pg_port)
    for proc in psutil.process_iter(["name", "cmdline", "ppid"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and port in cmd and "-p" in cmd:
            return proc.pid
    return None


def cpu_snapshot(stack: Stack) -> dict[int, tuple[str, float]]:
    """CPU seconds (own + reaped children) of every process of the stack, PostgreSQL's
    included, by pid."""
    import psutil

    roots = [stack.process.pid]
    postmaster = _postmaster(stack)
    if postmaster is not None:
        roots.append(postmaster)
    out: dict[int, tuple[str, float]] = {}
    for root in roots:
        try:
            top = psutil.Process(root)
            family = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in family:
            try:
                t = proc.cpu_times()
                cmd = " ".join(proc.cmdline()) or proc.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total = t.user + t.system + t.children_user + t.children_system
            out[proc.pid] = (_category(cmd), total)
    return out


def cpu_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict:
    """CPU seconds used between two snapshots, by kind of process. Processes that started and
    ended in between count through the parent that reaped them (tasks: their executor worker;
    PostgreSQL backends: the postmaster)."""
    spent: dict[str, float] = {}
    for pid, (category, total) in after.items():
        spent[category] = spent.get(category, 0.0) + total - before.get(pid, (category, 0.0))[1]
    return {k: round(v, 1) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}
