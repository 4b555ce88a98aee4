#!/usr/bin/env bash
# The admin and the caller account with its least-privilege role, made with Airflow's own
# commands only (FAB auth manager: `airflow roles` / `airflow users`), so it runs wherever those
# commands run against the metadata database: the compose stack's airflow-init, a Helm chart's
# job or an Astronomer deployment's shell, your own hosts; Airflow 2.11 (FAB provider 1.5.4) and
# 3.3.2 (FAB 3.10.2). Not on MWAA, where nobody gets a shell with the Airflow CLI and MWAA manages
# roles itself. deploy/accounts.py does the same in one process (`make run` uses it: faster).
#
#   AIRFLOW_ADMIN_USER=admin AIRFLOW_ADMIN_PASSWORD=... \
#   AIRFLOW_CALLER_USER=caller AIRFLOW_CALLER_PASSWORD=... deploy/create_accounts.sh
#
# ROLE_FILE picks another role file: deploy/roles/rest_trigger_caller_stock_fab.json where the
# project's auth manager is not configured (docs/security.md says what that costs).
#
# Passwords come from the environment and reach `airflow users` on its standard input (FAB asks
# with getpass, twice, when --password is absent): printf is a shell builtin, so no process ever
# has a password in its argv, where `ps` shows it to every user of the machine.
#
# Idempotent, by FAB's own rules on a second run: `roles import` leaves a role that exists as
# it is (to change one: `airflow roles add-perms` / `del-perms`), `users create` leaves a user
# that exists as it is (role and password included), and `sync-perm` gives every custom role
# read on "Website" (as the webserver does each time it starts).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
role_file="${ROLE_FILE:-${here}/roles/rest_trigger_caller.json}"
caller_role=RestTriggerCaller

for name in AIRFLOW_ADMIN_USER AIRFLOW_ADMIN_PASSWORD AIRFLOW_CALLER_USER AIRFLOW_CALLER_PASSWORD; do
  if [ -z "${!name:-}" ]; then
    echo "create_accounts: set ${name}" >&2
    exit 2
  fi
done

# The password twice (FAB's prompt and its confirmation), through a pipe.
twice() { printf '%s\n%s\n' "$1" "$1"; }

# getpass reads the controlling terminal when there is one, not stdin: run from a terminal, it
# would prompt instead of reading the pipe. Without a controlling terminal (setsid: a new
# session) it falls back to stdin. In containers and CI there is none anyway.
no_tty() {
  if command -v setsid >/dev/null; then
    setsid --wait "$@"
  else
    "$@"
  fi
}

airflow db migrate
# `roles import` refuses a permission on a resource that does not exist yet
# ("Resource named 'DAG:rest-trigger' does not exist"): the DAG's resources exist once it is
# serialized and sync-perm has made its DAG-level permissions.
airflow dags reserialize
airflow sync-perm --include-dags
airflow roles import "${role_file}"

twice "${AIRFLOW_ADMIN_PASSWORD}" | no_tty airflow users create --role Admin \
  --username "${AIRFLOW_ADMIN_USER}" --email "${AIRFLOW_ADMIN_USER}@localhost" \
  --firstname Local --lastname Admin
twice "${AIRFLOW_CALLER_PASSWORD}" | no_tty airflow users create --role "${caller_role}" \
  --username "${AIRFLOW_CALLER_USER}" --email "${AIRFLOW_CALLER_USER}@localhost" \
  --firstname Local --lastname Caller
# Not here: making an existing caller's password follow the environment. FAB 1.5.4's
# `airflow users reset-password` (stdin-safe the same way) fails on Airflow 2.11.2 with the
# default database session backend (apache/airflow#63830, fixed after 1.5.4 by #64375), so the
# compose stack runs `python -m deploy.accounts --caller-only` after this script for that.
