"""Warm the task runtime in the scheduler, so each task does not import it again (switch
``preload``; run by rest_trigger_plugins.py when Airflow loads plugins).

Depends on: the private module paths of each version's task runtime (below:
``airflow.cli.commands.task_command``, ``airflow.jobs.local_task_job_runner``, ...;
``airflow.sdk.execution_time.task_runner``), on ``airflow scheduler`` loading plugins before its
LocalExecutor forks its workers, and on the task processes being forked from those. A module
that no longer exists fails the preload loudly (``PreloadError``) instead of being skipped in
a log line. Guarded by tests/plugins/internals/test_preload.py on both versions.

With LocalExecutor every task runs in a process forked from one of the executor's worker
processes, which the scheduler forks when it starts. A forked child shares every module its
parent had already imported; whatever it imports itself, it pays for on every task. ``main_etl``
needs pandas and redshift_connector (~1.5 s of imports on this project's 2-core reference
machine), which would otherwise be paid by every run, on its critical path and out of the
burst's CPU budget (see docs/benchmarks.md).

Airflow imports every ``.py`` file in the plugins folder when it loads plugins; the scheduler does
that (``Job.prepare_for_execution`` -> listener manager -> plugins) before its executor starts the
worker processes. This module imports the heavy modules only in ``airflow scheduler``: the
webserver, the CLI, the DAG file and the task processes themselves stay as light as before,
and so does a scheduler whose executor is not LocalExecutor. (A Celery worker would profit only
if it loaded plugins before its pool forks; not verified, so it is left out.) It changes no
behaviour but speed.

It also freezes the garbage collector's view of the heap before every fork of the scheduler and
of the processes forked from it (``gc.freeze`` via ``os.register_at_fork``). Without it, a task
process's first full collection walks every object it inherited (Airflow, SQLAlchemy, pandas:
hundreds of MB), which writes to each object's header and so copies every page of the parent's
heap into the child (copy-on-write). Measured on the 2-core reference machine, 15 sequential
runs (docs/benchmarks.md): task processes 1.71 -> 1.03 user CPU-s and 0.61 -> 0.44 system CPU-s
per run, POST to success 3.26 -> 2.25 s median. The parent unfreezes right after each fork, so
only the child (a task process, short-lived) keeps its inherited objects out of collection.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
import time

from rest_trigger_etl.airflow_compat import is_airflow_2

log = logging.getLogger(__name__)

AIRFLOW_2 = is_airflow_2()

# What main_etl imports at run time (see dags/rest_trigger.py), on either Airflow.
DAG_RUNTIME_MODULES = (
    "pandas",
    "redshift_connector",
    "airflow.providers.common.sql.hooks.sql",
    "airflow.providers.amazon.aws.hooks.redshift_sql",
    "rest_trigger_etl.etl",
    "rest_trigger_etl.names",
    "rest_trigger_etl.run_conf",
)
# Airflow 2.11's task runtime that the scheduler itself never imports: the `airflow tasks run`
# command (loaded lazily by the CLI in each task process), the LocalTaskJob and the task runner
# it forks with, and what the raw task imports on the way (Jinja's extensions for the template
# environment, dataset metadata). py-spy showed these imports in every task.
AIRFLOW_2_RUNTIME_MODULES = (
    "airflow.decorators",
    "airflow.cli.commands.task_command",
    "airflow.jobs.local_task_job_runner",
    "airflow.task.task_runner.standard_task_runner",
    "airflow.operators.subdag",
    "airflow.datasets.metadata",
    "jinja2.ext",
)
# Airflow 3's: the task SDK's supervisor (each LocalExecutor worker imports it at its first
# task), the runner its forked child runs, and the authoring interface the DAG file imports
# when the task process parses it. py-spy (bench/profile.py --airflow 3) showed the supervisor
# module in each worker's first task.
AIRFLOW_3_RUNTIME_MODULES = (
    "airflow.sdk",
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "jinja2.ext",
)
# The names the DAG file takes from airflow_compat. airflow.sdk resolves them lazily, so
# importing the package is not enough: on 3.3.2 ``task`` alone pulls the decorators and the
# standard provider's Python operator, in every task's DAG parse (the preload's tests assert that
# parse imports nothing). Resolved by name, they follow a move to another module.
DAG_NAMES = ("dag", "task", "Param", "AirflowFailException")
TASK_RUNTIME_MODULES = DAG_RUNTIME_MODULES + (
    AIRFLOW_2_RUNTIME_MODULES if AIRFLOW_2 else AIRFLOW_3_RUNTIME_MODULES
)


def forks_tasks(argv: list[str]) -> bool:
    """True for ``airflow scheduler``, whose LocalExecutor workers fork the task processes."""
    command = [a for a in argv[1:2] if not a.startswith("-")]
    return command == ["scheduler"]


class PreloadError(RuntimeError):
    """A module named above does not import on this Airflow: the list is out of date."""


def preload(modules: tuple[str, ...] = TASK_RUNTIME_MODULES) -> list[str]:
    """Import modules; one that does not import raises PreloadError (a list that silently
    shrank would leave every task paying for its imports again). Returns those imported."""
    loaded = []
    started = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise PreloadError(
                f"rest_trigger preload: {name} does not import on this Airflow ({exc}); "
                "update rest_trigger_internals/preload.py or turn the preload switch off"
            ) from exc
        loaded.append(name)
    from rest_trigger_etl import airflow_compat

    for name in DAG_NAMES:
        getattr(airflow_compat, name)  # a name airflow_compat no longer has raises here
    log.info(
        "rest_trigger_preload: task runtime imported in %.2f s: %s",
        time.perf_counter() - started,
        ", ".join(loaded),
    )
    return loaded


def freeze_before_fork() -> None:
    """Before each fork, move every object tracked so far out of the collector's reach, so that
    the child's collections never walk (and copy) the parent's heap; right after it, give them
    back to the parent's collector, so that the long-lived parents (the scheduler, its
    LocalExecutor workers, the DAG processor manager) still collect their own garbage and do not
    grow with every task."""
    os.register_at_fork(before=gc.freeze, after_in_parent=gc.unfreeze)


def executor_forks_tasks() -> bool:
    """Only LocalExecutor forks the task processes from this process tree; under another
    executor (the compose stack's Celery profile) the scheduler forks no task, so its forks are
    left as Airflow makes them."""
    from airflow.configuration import conf

    return conf.get("core", "executor", fallback="").rsplit(".", 1)[-1] == "LocalExecutor"


# Under another executor (the compose stack's Celery profile) the preload would be pure cost: the
# scheduler runs no task, and it imports between the job's first heartbeat and its loop's (a
# loaded CI machine took 36 s there, the scheduler's /health answered 503 and compose gave up).
# On Airflow 3 LocalExecutor forks its workers from the scheduler too, and each worker's
# supervisor forks the task process, so the preload reaches the task the same way; 3.x freezes
# the collector around that fork itself (LocalExecutor._spawn_workers_with_gc_freeze).
def run() -> None:
    """What the plugin module calls: preload (and, on 2.11, freeze) in a scheduler whose
    executor forks the tasks; nothing anywhere else."""
    if forks_tasks(sys.argv) and executor_forks_tasks():
        preload()
        if AIRFLOW_2:
            freeze_before_fork()
