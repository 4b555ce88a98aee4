"""plugins/rest_trigger_internals/fork_safe_pool.py (switch ``fork_safe_pool``, installed by
plugins/airflow_local_settings.py): a process forked from an Airflow process opens its own
metadata-DB connections; it never answers its parent's queries on a shared PostgreSQL socket
(the compose scheduler's hang: its health-check server, forked from it, shared its connection).
The guards: 2.11's ``airflow.settings`` still declares ``engine`` (install refuses loudly when it
does not), and 3.x still disposes the pool after fork itself (why it is not installed there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from rest_trigger_local.settings import PROJECT_DIR
from tests.support.databases import Warehouse
from tests.support.harness import AIRFLOW3_PYTHON
from tests.support.probe import python_probe

PLUGINS = str(PROJECT_DIR / "plugins")


def backend_pid(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar())


def backend_pid_in_child(engine: Any) -> int:
    """Fork (as multiprocessing does); the child asks PostgreSQL which backend serves it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without closing anything of the parent's
        code = 1
        try:
            os.write(write, str(backend_pid(engine)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 64)
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    return int(answer)


@pytest.fixture
def engine(warehouse: Warehouse) -> Iterator[Any]:
    url = (
        f"postgresql+psycopg2://{warehouse.user}:{warehouse.password}"
        f"@{warehouse.host}:{warehouse.pg_port}/{warehouse.database}"
    )
    engine = create_engine(url, pool_size=1)
    yield engine
    engine.dispose()


@pytest.mark.integration
def test_a_forked_child_gets_its_own_connection(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow.settings
    from rest_trigger_internals import fork_safe_pool

    fork_safe_pool.install()  # what airflow_local_settings.py does when the switch is on

    parent = backend_pid(engine)  # and the connection goes back to the pool
    # The hazard, shown on an engine the hook does not know: the child takes the pooled
    # connection and talks on the parent's socket (same server backend).
    assert backend_pid_in_child(engine) == parent
    # Airflow's engine: the hook gives the child a pool of its own.
    monkeypatch.setattr(airflow.settings, "engine", engine)
    child = backend_pid_in_child(engine)
    assert child != parent
    # And the parent's connection was left alone: still open, still the same backend.
    assert backend_pid(engine) == parent


def test_airflow_imports_it_as_its_local_settings_and_the_plugin_loader_skips_it() -> None:
    """In a fresh interpreter, as every Airflow process starts: settings imported it from the
    plugins folder; loading plugins does not run it a second time."""
    probe = (
        "import json, sys\n"
        "import airflow.settings\n"
        "from airflow import plugins_manager\n"
        "loaded = sys.modules.get('airflow_local_settings')\n"
        "plugins_manager.load_plugins_from_plugin_directory()\n"
        "names = [getattr(p, '__module__', '') for p in plugins_manager.plugins or []]\n"
        "print(json.dumps([loaded.__file__ if loaded else None,\n"
        "                  sys.modules.get('airflow_local_settings') is loaded, names]))\n"
    )
    path, same, names = python_probe(probe)
    assert path == os.path.join(PLUGINS, "airflow_local_settings.py")
    assert same is True
    assert "airflow_local_settings" not in names


def test_airflow_2_settings_declare_the_engine_the_hook_disposes() -> None:
    import airflow.settings

    assert "engine" in airflow.settings.__annotations__


def test_install_refuses_an_airflow_whose_settings_have_no_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import airflow.settings
    from rest_trigger_internals import fork_safe_pool

    monkeypatch.setattr(
        airflow.settings,
        "__annotations__",
        {k: v for k, v in airflow.settings.__annotations__.items() if k != "engine"},
    )
    monkeypatch.delattr(airflow.settings, "engine", raising=False)
    registered: list[object] = []
    monkeypatch.setattr(os, "register_at_fork", lambda **hooks: registered.append(hooks))
    with pytest.raises(RuntimeError, match="no 'engine'"):
        fork_safe_pool.install()
    assert registered == []


@pytest.mark.airflow3
@pytest.mark.skipif(not AIRFLOW3_PYTHON.exists(), reason="no .venv-airflow3 (make venv-airflow3)")
def test_airflow_3_disposes_the_pool_after_fork_itself() -> None:
    """Why the hook is not installed on 3.x: its settings register the same dispose."""
    probe = (
        "import inspect, json\n"
        "import airflow.settings as s\n"
        "source = inspect.getsource(s)\n"
        "print(json.dumps(['register_at_fork' in source, 'dispose(close=False)' in source]))\n"
    )
    assert python_probe(probe, python=str(AIRFLOW3_PYTHON)) == [True, True]
