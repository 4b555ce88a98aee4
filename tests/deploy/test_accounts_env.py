"""deploy/accounts.py's reading of the environment, both modes (no Airflow process)."""

from __future__ import annotations

import pytest

from deploy import accounts

CALLER = {"AIRFLOW_CALLER_USER": "caller", "AIRFLOW_CALLER_PASSWORD": "c"}
ADMIN = {"AIRFLOW_ADMIN_USER": "admin", "AIRFLOW_ADMIN_PASSWORD": "a"}


def test_both_accounts_need_all_four_variables() -> None:
    with pytest.raises(SystemExit, match="AIRFLOW_ADMIN_USER, AIRFLOW_ADMIN_PASSWORD"):
        accounts.accounts_from_env(CALLER)
    both = accounts.accounts_from_env({**ADMIN, **CALLER})
    assert [(a.username, a.role, a.password_follows_env) for a in both] == [
        ("admin", accounts.ADMIN_ROLE, False),
        ("caller", accounts.CALLER_ROLE, True),
    ]


def test_caller_only_needs_the_callers_variables_alone() -> None:
    """After deploy/create_accounts.sh, whose environment may hold no admin password."""
    (caller,) = accounts.accounts_from_env(CALLER, caller_only=True)
    assert (caller.username, caller.password, caller.role) == ("caller", "c", accounts.CALLER_ROLE)
    with pytest.raises(SystemExit, match="AIRFLOW_CALLER_PASSWORD"):
        accounts.accounts_from_env({"AIRFLOW_CALLER_USER": "caller"}, caller_only=True)
