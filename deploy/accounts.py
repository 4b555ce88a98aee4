"""The Airflow accounts: the admin (people, in the UI) and the caller (other systems, over the REST
API) with its least-privilege role, created or brought in line idempotently.

Run it as ``python -m deploy.accounts`` with Airflow's environment (metadata database)
and the names and passwords in the environment: ``AIRFLOW_ADMIN_USER``, ``AIRFLOW_ADMIN_PASSWORD``,
``AIRFLOW_CALLER_USER``, ``AIRFLOW_CALLER_PASSWORD``. Passwords come only from the environment and
are hashed in this process through FAB's security manager: ``airflow users create --password``
would put them on a command line, where ``ps`` shows them to every user of the machine.

The role's permissions come from ``roles/rest_trigger_caller.json``, the file Airflow's own
``airflow roles import`` reads: deploy/create_accounts.sh makes the same role and users with
Airflow's commands alone (passwords on their stdin), for a deployment that runs no project code.
This module does it in one process (``make run``: one Airflow start-up, not six).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CALLER_ROLE = "RestTriggerCaller"
ADMIN_ROLE = "Admin"


# The role as a file `airflow roles import` reads (the shape `airflow roles export` writes): the
# one source of the caller's permissions, for this module and for Airflow's own commands
# (deploy/create_accounts.sh, docs/security.md). tests/deploy/test_roles_file.py checks its
# names against airflow.security.permissions and the DAG id against rest_trigger_etl.names.
ROLES_DIR = Path(__file__).resolve().parent / "roles"
CALLER_ROLE_FILE = ROLES_DIR / "rest_trigger_caller.json"


def role_file_permissions(path: Path, role: str) -> list[tuple[str, str]]:
    """The (action, resource) pairs a role file gives ``role``: one entry per resource, its
    actions comma-separated, as `airflow roles export` writes them."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return sorted(
        (action, entry["resource"])
        for entry in entries
        if entry["name"] == role
        for action in entry["action"].split(",")
        if action
    )


def caller_permissions() -> list[tuple[str, str]]:
    """What a caller may do, as FAB (action, resource) pairs, from CALLER_ROLE_FILE: read the one
    DAG, create and read its runs, read task instances, XCom entries and task logs. The last
    three are global FAB resources, but Airflow grants them only together with read on the DAG
    they belong to, so they reach this DAG's only. So is read on "DAG Runs": it admits the
    caller to the cross-DAG run listing (``POST /dags/~/dagRuns/list``, one request per poll for
    many runs, which the trigger client's ``wait_many`` uses), and that listing, like every
    other, keeps only the runs of DAGs the caller may read.

    Not there, so refused: edit or delete on the DAG (pause/unpause, delete), edit or delete on
    its runs or task instances (clear, mark, delete), any other DAG, connections, variables,
    pools, config, users, roles, the UI. FAB itself asks for edit on the DAG to create a run;
    plugins/rest_trigger_api/auth_manager.py asks for read on the DAG and create on its runs,
    so that triggering does not bring pausing with it (docs/security.md: without that auth
    manager, roles/rest_trigger_caller_stock_fab.json adds the edit).
    """
    return role_file_permissions(CALLER_ROLE_FILE, CALLER_ROLE)


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: str
    # The caller is a machine account: its password follows the environment on every run. The
    # admin's is set once, then belongs to the person (who may change it in the UI).
    password_follows_env: bool


def accounts_from_env(env: Mapping[str, str], caller_only: bool = False) -> list[Account]:
    """Both accounts (or the caller's alone), from the environment; a missing variable is an
    error, not a default (the defaults are the launcher's, which passes them in)."""
    wanted = ["AIRFLOW_CALLER_USER", "AIRFLOW_CALLER_PASSWORD"]
    if not caller_only:
        wanted = ["AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD", *wanted]
    missing = [name for name in wanted if not env.get(name)]
    if missing:
        raise SystemExit(f"accounts: set {', '.join(missing)}")
    caller = Account(env["AIRFLOW_CALLER_USER"], env["AIRFLOW_CALLER_PASSWORD"], CALLER_ROLE, True)
    if caller_only:
        return [caller]
    return [
        Account(env["AIRFLOW_ADMIN_USER"], env["AIRFLOW_ADMIN_PASSWORD"], ADMIN_ROLE, False),
        caller,
    ]


def ensure_caller_role(sm: Any) -> list[str]:
    """The caller role with exactly caller_permissions(): created if missing, extra permissions
    removed (a role edited by hand is brought back). Returns what changed."""
    changes: list[str] = []
    role = sm.find_role(CALLER_ROLE)
    if role is None:
        role = sm.add_role(CALLER_ROLE)
        changes.append(f"created the role {CALLER_ROLE!r}")
    wanted = set(caller_permissions())
    have = {(perm.action.name, perm.resource.name): perm for perm in role.permissions}
    for action, resource in sorted(wanted - have.keys()):
        sm.add_permission_to_role(role, sm.create_permission(action, resource))
    for pair in sorted(have.keys() - wanted):
        sm.remove_permission_from_role(role, have[pair])
        changes.append(f"removed {pair[0]} on {pair[1]!r} from {CALLER_ROLE!r}")
    return changes


def ensure_account(sm: Any, account: Account) -> list[str]:
    """Create the user, or bring an existing one's role (and, for the caller, password) in line."""
    from werkzeug.security import check_password_hash, generate_password_hash

    role = sm.find_role(account.role)
    if role is None:
        raise SystemExit(f"accounts: the role {account.role!r} does not exist")
    user = sm.find_user(username=account.username)
    if user is None:
        created = sm.add_user(
            account.username, "Local", account.role, f"{account.username}@localhost",
            role, password=account.password,
        )  # fmt: skip
        if not created:
            raise SystemExit(f"accounts: could not create the Airflow user {account.username!r}")
        return [f"created the Airflow user {account.username!r} (role {account.role})"]
    changes = []
    if [r.name for r in user.roles] != [account.role] and account.password_follows_env:
        user.roles = [role]
        changes.append(f"set the role of {account.username!r} to {account.role}")
    if account.password_follows_env and not check_password_hash(user.password, account.password):
        user.password = generate_password_hash(account.password)
        changes.append(f"set the password of {account.username!r} from the environment")
    if changes:
        sm.update_user(user)
    return changes


def ensure_accounts(env: Mapping[str, str], caller_only: bool = False) -> list[str]:
    """Everything above, in one Airflow app context. Returns what changed, one line each.

    ``caller_only``: only the caller user's role membership and password, for a deployment
    whose role and users Airflow's own commands made (deploy/create_accounts.sh): FAB 1.5.4's
    ``airflow users reset-password`` fails with Airflow's default database session backend
    (docs/security.md), so it cannot make the password follow the environment there.
    """
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    accounts = accounts_from_env(env, caller_only)
    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        changes = [] if caller_only else ensure_caller_role(sm)
        for account in accounts:
            changes += ensure_account(sm, account)
    return changes


PREFIX = "accounts: "


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.accounts", description=__doc__)
    parser.add_argument(
        "--caller-only",
        action="store_true",
        help="only bring the existing caller user's role and password in line with the "
        "environment (after deploy/create_accounts.sh)",
    )
    args = parser.parse_args(argv)
    for line in ensure_accounts(os.environ, caller_only=args.caller_only):
        # Marked: Airflow's own log lines go to stdout too; the launcher relays only these.
        print(PREFIX + line, flush=True)  # noqa: T201
    sys.exit(0)


if __name__ == "__main__":
    main()
