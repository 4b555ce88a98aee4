"""The optional pieces' switches: ``[rest_trigger_api]`` in Airflow's configuration (airflow.cfg
or ``AIRFLOW__REST_TRIGGER_API__<NAME>=True``). Every switch is off unless set, so copying
``plugins/`` into an Airflow changes nothing until a team turns a piece on.

The pieces Airflow's own settings turn on are named here too, so that the list is complete:
``[api] auth_backends = rest_trigger_api.cached_basic_auth`` (the credential cache) and
``[core] auth_manager = rest_trigger_internals.auth_manager.RestTriggerAuthManager``.
"""

from __future__ import annotations

SECTION = "rest_trigger_api"

# name -> what a team gains by turning it on (docs/security.md's table is this one).
SWITCHES: dict[str, str] = {
    "login_throttle": (
        "429 + Retry-After after repeated failed logins, counted across every worker in the "
        "metadata DB, before the password is checked: 2.11's cached backend, 3.x's `/auth/token`"
    ),
    "request_body_limit": "413 problem for API bodies over 64 KiB (2.11 and 3.x) instead of "
    "a 500 or a stored 2 MB conf",
    "error_mappings": "2.11: 400 with the reason instead of an HTML 500 for a malformed "
    "dag_run_id, values the database refuses and unknown `fields` names; a trigger that lost "
    "a race for its run's keys tried again; any other API error a 500 problem, not an HTML page",
    "preload": "LocalExecutor: pandas, the driver and the task runtime imported once in the "
    "scheduler, not in every task",
    "fork_safe_pool": "2.11: a forked process never shares its parent's metadata-DB "
    "connections (the scheduler hang seen with its health-check server)",
}


# The section's other options, with their defaults (airflow.cfg sets the same values).
SETTINGS: dict[str, int] = {
    "credential_cache_seconds": 60,  # cached_basic_auth: how long a verified login is kept
    "login_window_seconds": 300,  # login_policy: the window failed logins are counted in
    "login_failures_per_user": 5,
    "login_failures_per_address": 20,
}


def setting(name: str) -> int:
    """One of SETTINGS, as configured."""
    from airflow.configuration import conf

    return conf.getint(SECTION, name, fallback=SETTINGS[name])


def enabled(name: str) -> bool:
    """Whether the switch ``name`` is on; a name that is not a switch is a programming error."""
    if name not in SWITCHES:
        raise KeyError(f"{name!r} is not one of the {SECTION} switches: {', '.join(SWITCHES)}")
    from airflow.configuration import conf

    return conf.getboolean(SECTION, name, fallback=False)
