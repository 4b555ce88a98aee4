"""plugins/rest_trigger_etl/airflow_compat.py, the one module of version differences: every
moved name resolves on 2.11 and on 3.x from the module it names for that version (so an upgrade
that moves one again fails here, not in a task), and the API paths are the ones each version
serves (the e2e layers ask them of real servers)."""

from __future__ import annotations

from rest_trigger_etl import airflow_compat
from rest_trigger_local.settings import PROJECT_DIR
from tests.support.probe import on_both_airflows, python_probe

PLUGINS = str(PROJECT_DIR / "plugins")

PROBE = f"""
import json, sys, warnings
sys.path.insert(0, {PLUGINS!r})
import airflow  # initialised first: its start-up is not what this checks
from rest_trigger_etl import airflow_compat
found = {{}}
for name, homes in airflow_compat.MOVED.items():
    home = homes[airflow_compat.airflow_major() == 2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = getattr(airflow_compat, name)
            found[name] = getattr(value, "__module__", None) or value.__name__
        except Exception as exc:
            found[name] = f"FAILED: {{exc!r}}"
    # A deprecated home counts as moved (other start-up warnings are not this test's business).
    texts = [str(w.message) for w in caught]
    deprecated = [t for t in texts if home in t or name in t]
    if deprecated:
        found[name] = f"FAILED: deprecated: {{deprecated}}"
print(json.dumps([airflow_compat.airflow_major(), found]))
"""


@on_both_airflows()
def test_every_moved_name_resolves_without_deprecation(python: str) -> None:
    major, found = python_probe(PROBE, python=python)
    failed = {name: got for name, got in found.items() if str(got).startswith("FAILED")}
    assert not failed, failed
    assert set(found) == set(airflow_compat.MOVED)
    assert found["fab_permissions"] == airflow_compat.MOVED["fab_permissions"][major == 2]


def test_api_paths_per_version() -> None:
    assert airflow_compat.api_paths(2).health_url_path == "/api/v1/health"
    assert airflow_compat.api_paths(3).health_url_path == "/api/v2/monitor/health"
    assert airflow_compat.api_paths(2).token is None
    assert airflow_compat.api_paths(3).token == "/auth/token"
