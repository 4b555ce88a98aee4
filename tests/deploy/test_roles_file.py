"""The caller's role file (deploy/roles/), the one source of its permissions: the shape
`airflow roles export` writes and `airflow roles import` reads, FAB's own names, and exactly the
least privilege docs/security.md describes. Fast: no Airflow process, no database."""

from __future__ import annotations

import json
from pathlib import Path

from airflow.security import permissions as p

from deploy import accounts
from rest_trigger_etl.names import DAG_ID

DEPLOY = Path(accounts.__file__).resolve().parent
STOCK_FAB_FILE = accounts.ROLES_DIR / "rest_trigger_caller_stock_fab.json"
ROLE_FILES = [accounts.CALLER_ROLE_FILE, STOCK_FAB_FILE]


def _constants(prefix: str) -> set[str]:
    # Strings only: the module also holds maps (RESOURCE_DETAILS_MAP, ...).
    return {v for name, v in vars(p).items() if name.startswith(prefix) and isinstance(v, str)}


def test_the_files_have_the_shape_roles_export_writes() -> None:
    for path in ROLE_FILES:
        entries = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(entries, list) and entries, path
        for entry in entries:
            assert list(entry) == ["name", "resource", "action"], (path, entry)
            assert entry["name"] == accounts.CALLER_ROLE, (path, entry)
            # export joins one resource's actions, sorted, with a comma (no spaces).
            actions = entry["action"].split(",")
            assert actions == sorted(set(actions)) and all(actions), (path, entry)
        resources = [entry["resource"] for entry in entries]
        assert len(resources) == len(set(resources)), path  # export writes one entry each


def test_every_name_is_one_fab_defines() -> None:
    """Checked against airflow.security.permissions rather than spelled twice: a typo in the file
    would otherwise only show as a refusal at run time (or, in `roles import`, a new resource)."""
    actions = _constants("ACTION_")
    resources = _constants("RESOURCE_") | {
        p.resource_name(DAG_ID, p.RESOURCE_DAG),
        p.resource_name(DAG_ID, p.RESOURCE_DAG_RUN),
    }
    for path in ROLE_FILES:
        for action, resource in accounts.role_file_permissions(path, accounts.CALLER_ROLE):
            assert action in actions, (path, action)
            assert resource in resources, (path, resource)


def test_the_caller_gets_least_privilege() -> None:
    """What deploy/accounts.py grants (it reads the file): read on the DAG, create and read on its
    runs, read on the global run listing, task instances, XComs and logs; no edit, no delete."""
    assert accounts.caller_permissions() == sorted(
        [
            (p.ACTION_CAN_READ, p.resource_name(DAG_ID, p.RESOURCE_DAG)),
            (p.ACTION_CAN_READ, p.resource_name(DAG_ID, p.RESOURCE_DAG_RUN)),
            (p.ACTION_CAN_CREATE, p.resource_name(DAG_ID, p.RESOURCE_DAG_RUN)),
            (p.ACTION_CAN_READ, p.RESOURCE_DAG_RUN),
            (p.ACTION_CAN_READ, p.RESOURCE_TASK_INSTANCE),
            (p.ACTION_CAN_READ, p.RESOURCE_XCOM),
            (p.ACTION_CAN_READ, p.RESOURCE_TASK_LOG),
        ]
    )


def test_the_stock_fab_file_adds_only_edit_on_the_dag() -> None:
    """Stock FAB asks for edit on the DAG to create a run (which also allows pausing it); the
    project's auth manager does not. That one permission is the only difference."""
    stock = set(accounts.role_file_permissions(STOCK_FAB_FILE, accounts.CALLER_ROLE))
    assert stock - set(accounts.caller_permissions()) == {
        (p.ACTION_CAN_EDIT, p.resource_name(DAG_ID, p.RESOURCE_DAG))
    }
    assert set(accounts.caller_permissions()) <= stock


def test_the_script_imports_the_file_and_names_its_role() -> None:
    script = (DEPLOY / "create_accounts.sh").read_text(encoding="utf-8")
    assert f"caller_role={accounts.CALLER_ROLE}\n" in script
    assert "roles/rest_trigger_caller.json" in script
