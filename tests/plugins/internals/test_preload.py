"""plugins/rest_trigger_internals/preload.py (switch ``preload``) warms pandas and the driver only
in the process that forks LocalExecutor's tasks (the scheduler); everywhere else importing it
must stay free."""

from __future__ import annotations

import sys

import pytest

from rest_trigger_etl.names import DAG_ID, MAIN_ETL
from rest_trigger_local.settings import PROJECT_DIR
from tests.support.probe import on_both_airflows, python_probe

PLUGINS = PROJECT_DIR / "plugins"
sys.path.insert(0, str(PLUGINS))

from rest_trigger_internals.preload import (  # noqa: E402
    TASK_RUNTIME_MODULES,
    PreloadError,
    forks_tasks,
    preload,
)

from tests.support.harness import AIRFLOW3_PYTHON  # noqa: E402


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/bin/airflow", "scheduler"], True),
        (["/venv/lib/airflow/__main__.py", "scheduler", "--skip-serve-logs"], True),
        (["/venv/bin/airflow", "celery", "worker"], False),
        (["/venv/bin/airflow", "webserver"], False),
        (["/venv/bin/airflow", "tasks", "run", DAG_ID, MAIN_ETL, "r1"], False),
        (["/venv/bin/airflow", "dags", "report"], False),
        (["/venv/bin/airflow", "celery", "flower"], False),
        (["-c"], False),
        ([], False),
    ],
)
def test_forks_tasks(argv: list[str], expected: bool) -> None:
    assert forks_tasks(argv) is expected


def test_import_outside_the_scheduler_loads_nothing_heavy() -> None:
    probe = (
        "import json, os, sys\n"
        f"sys.path.insert(0, {str(PLUGINS)!r})\n"
        "os.environ['AIRFLOW__REST_TRIGGER_API__PRELOAD'] = 'True'\n"
        "import rest_trigger_plugins\n"
        "print(json.dumps([m for m in ('pandas', 'redshift_connector') if m in sys.modules]))\n"
    )
    assert python_probe(probe) == []


def test_a_module_that_does_not_import_fails_the_preload_loudly() -> None:
    """A list that silently shrank would leave every task paying for its imports again."""
    assert preload(("json",)) == ["json"]
    with pytest.raises(PreloadError, match="no_such_module_for_rest_trigger"):
        preload(("json", "no_such_module_for_rest_trigger"))
    assert "pandas" in TASK_RUNTIME_MODULES


def test_every_module_it_names_imports_on_this_airflow() -> None:
    """The guard for 2.11 (the Airflow 3 one is below): the private runtime modules exist."""
    probe = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(PLUGINS)!r})\n"
        "from rest_trigger_internals.preload import TASK_RUNTIME_MODULES, preload\n"
        "print(json.dumps(preload() == list(TASK_RUNTIME_MODULES)))\n"
    )
    assert python_probe(probe) is True


def test_a_forked_child_inherits_a_frozen_heap() -> None:
    """After freeze_before_fork, a child starts with the parent's objects out of the collector's
    reach (its collections never walk them), and the parent gets them back."""
    probe = (
        "import gc, json, os, sys\n"
        f"sys.path.insert(0, {str(PLUGINS)!r})\n"
        "from rest_trigger_internals.preload import freeze_before_fork\n"
        "def child_frozen():\n"
        "    r, w = os.pipe()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.write(w, str(gc.get_freeze_count()).encode()); os._exit(0)\n"
        "    os.close(w); os.waitpid(pid, 0)\n"
        "    return int(os.read(r, 64))\n"
        "before = child_frozen()\n"
        "freeze_before_fork()\n"
        "kept = [[i] for i in range(50_000)]\n"
        "print(json.dumps([before, child_frozen(), gc.get_freeze_count()]))\n"
    )
    before, child, parent = python_probe(probe)
    assert before == 0
    assert child >= 50_000  # at least the 50,000 lists made before the fork
    assert parent == 0  # the parent collects its own objects again after the fork


@pytest.mark.parametrize(
    ("executor", "expected"),
    [
        ("LocalExecutor", True),
        ("airflow.executors.local_executor.LocalExecutor", True),
        ("CeleryExecutor", False),
        ("SequentialExecutor", False),
    ],
)
def test_the_heap_is_frozen_only_where_tasks_are_forked(
    executor: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rest_trigger_internals.preload import executor_forks_tasks

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    assert executor_forks_tasks() is expected


def scheduler_probe(executor: str) -> str:
    """Import the plugin as `airflow scheduler`'s plugin loader does; print what it imported."""
    return (
        "import json, os, sys\n"
        f"os.environ['AIRFLOW__CORE__EXECUTOR'] = {executor!r}\n"
        "os.environ['AIRFLOW__REST_TRIGGER_API__PRELOAD'] = 'True'\n"
        "sys.argv = ['/venv/bin/airflow', 'scheduler']\n"
        f"sys.path.insert(0, {str(PLUGINS)!r})\n"
        "import rest_trigger_plugins\n"
        "from rest_trigger_internals import preload\n"
        "print(json.dumps([m for m in ('pandas', 'redshift_connector') if m in sys.modules]))\n"
    )


@pytest.mark.parametrize(
    ("executor", "imported"),
    [("LocalExecutor", ["pandas", "redshift_connector"]), ("CeleryExecutor", [])],
)
def test_a_scheduler_preloads_only_under_local_executor(executor: str, imported: list[str]) -> None:
    """`airflow scheduler` as the plugin loader runs it: the task runtime is imported only where
    the scheduler forks the tasks; a Celery scheduler stays light (its first heartbeat is not
    delayed by imports no task of it uses)."""
    assert python_probe(scheduler_probe(executor)) == imported


@pytest.mark.airflow3
@pytest.mark.skipif(not AIRFLOW3_PYTHON.exists(), reason="no .venv-airflow3 (make venv-airflow3)")
@pytest.mark.parametrize(
    ("executor", "imported"),
    [("LocalExecutor", ["pandas", "redshift_connector"]), ("CeleryExecutor", [])],
)
def test_an_airflow_3_scheduler_preloads_too(executor: str, imported: list[str]) -> None:
    """Airflow 3's LocalExecutor forks its workers from the scheduler and each task from a
    worker's supervisor, so the preload reaches the task there too (make run AIRFLOW=3, quiet
    machine: main_etl 4.3 s -> 0.4 s, POST to success 5.7 -> 2.3 s); every module it names exists
    on 3.3.2 (a missing one fails the preload, and this test)."""
    code = (
        scheduler_probe(executor)
        .replace(
            "print(json.dumps(",
            "print(json.dumps([[m for m in preload.TASK_RUNTIME_MODULES if m not in sys.modules], ",
        )
        .replace("if m in sys.modules]))", "if m in sys.modules]]))")
    )
    missing, loaded = python_probe(code, python=str(AIRFLOW3_PYTHON))
    assert loaded == imported
    if executor == "LocalExecutor":
        assert missing == []


def test_it_resolves_every_name_the_dag_file_takes_from_airflow_compat() -> None:
    """DAG_NAMES is the DAG file's list: a name the file starts to use is preloaded too."""
    import ast

    from rest_trigger_internals.preload import DAG_NAMES

    tree = ast.parse((PROJECT_DIR / "dags" / "rest_trigger.py").read_text())
    used = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "rest_trigger_etl.airflow_compat"
        for alias in node.names
    }
    assert used, "the DAG file no longer imports from airflow_compat: update this test"
    assert used <= set(DAG_NAMES)


@on_both_airflows()
def test_after_the_preload_a_task_process_parse_imports_nothing(python: str) -> None:
    """What each task process pays again: the modules the DAG file's parse imports beyond what
    a LocalExecutor scheduler has (its own modules and the preload, which its forks inherit).
    None, on either Airflow; without DAG_NAMES, 3.3.2's lazily resolved decorators and the
    standard provider's Python operator are imported here in every task (py-spy found them:
    bench/profile.py --airflow 3)."""
    probe = (
        "import importlib.util, json, sys\n"
        f"sys.path.insert(0, {str(PLUGINS)!r})\n"
        "import airflow.executors.local_executor, airflow.jobs.scheduler_job_runner\n"
        "from rest_trigger_internals.preload import preload\n"
        "preload()\n"
        "before = set(sys.modules)\n"
        "spec = importlib.util.spec_from_file_location(\n"
        f"    'rest_trigger_dag_probe', {str(PROJECT_DIR / 'dags' / 'rest_trigger.py')!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    assert python_probe(probe, python=python) == []
