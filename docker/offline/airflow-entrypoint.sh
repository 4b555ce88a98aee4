#!/usr/bin/env bash
# The stand-in Airflow image's /entrypoint: the official image's documented behaviour
# (https://airflow.apache.org/docs/docker-stack/entrypoint.html), written for this image:
# - an arbitrary uid must run with gid 0; one with no /etc/passwd entry gets one (HOME is then
#   AIRFLOW_USER_HOME_DIR);
# - umask 0002, so files on shared volumes stay group-writable;
# - waits for the metadata database (`airflow db check`, CONNECTION_CHECK_MAX_COUNT tries,
#   default 20, CONNECTION_CHECK_SLEEP_TIME apart, default 3 s; 0 skips it);
# - _AIRFLOW_DB_MIGRATE (or the old _AIRFLOW_DB_UPGRADE): `airflow db migrate`;
#   _AIRFLOW_WWW_USER_CREATE: creates _AIRFLOW_WWW_USER_USERNAME (admin) with
#   _AIRFLOW_WWW_USER_PASSWORD (or _AIRFLOW_WWW_USER_PASSWORD_CMD), role Admin;
# - `bash ...` and `python ...` run as given (after the database check); otherwise the
#   arguments are an airflow command, with or without a leading `airflow`; `scheduler` and
#   `celery ...` under the CeleryExecutor first wait for the broker's port.
AIRFLOW_COMMAND="${1:-}"
set -euo pipefail

if [ "$(id -g)" != "0" ]; then
  if [ "$(id -u)" = "50000" ]; then
    echo "WARNING! Run the image with GID 0 (you started it with $(id -u):$(id -g))." >&2
  else
    echo "ERROR! Run the image with GID 0 (you started it with $(id -u):$(id -g))." >&2
    exit 1
  fi
fi
umask 0002

CONNECTION_CHECK_MAX_COUNT="${CONNECTION_CHECK_MAX_COUNT:-20}"
CONNECTION_CHECK_SLEEP_TIME="${CONNECTION_CHECK_SLEEP_TIME:-3}"

if ! whoami >/dev/null 2>&1; then
  if [ -w /etc/passwd ]; then
    echo "${USER_NAME:-default}:x:$(id -u):0:${USER_NAME:-default} user:${AIRFLOW_USER_HOME_DIR}:/sbin/nologin" >>/etc/passwd
  fi
  export HOME="${AIRFLOW_USER_HOME_DIR}"
fi

retry() {
  # retry DESCRIPTION COMMAND...: bounded by CONNECTION_CHECK_MAX_COUNT tries.
  local what="$1" left="${CONNECTION_CHECK_MAX_COUNT}" out
  shift
  while true; do
    if out="$("$@" 2>&1)"; then
      return 0
    fi
    left=$((left - 1))
    if [ "${left}" -le 0 ]; then
      echo "ERROR! ${what}: no success after ${CONNECTION_CHECK_MAX_COUNT} tries. Last output:" >&2
      echo "${out}" >&2
      exit 1
    fi
    sleep "${CONNECTION_CHECK_SLEEP_TIME}"
  done
}

port_open() {
  # port_open URL: the URL's host (resolved once, no reverse lookup) accepts TCP on its port.
  local host port
  read -r host port < <(python -c '
import socket, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
default = {"redis": 6379, "rediss": 6379, "amqp": 5672, "postgresql": 5432, "mysql": 3306}
print(socket.gethostbyname(u.hostname or "localhost"), u.port or default.get(u.scheme.split("+")[0], 0))
' "$1")
  nc -zn "${host}" "${port}"
}

if [ "${CONNECTION_CHECK_MAX_COUNT}" -gt 0 ]; then
  retry "the metadata database (airflow db check)" airflow db check
fi

if [ -n "${_AIRFLOW_DB_MIGRATE:-}${_AIRFLOW_DB_UPGRADE:-}" ]; then
  airflow db migrate || true
fi

if [ -n "${_AIRFLOW_WWW_USER_CREATE:-}" ]; then
  password="${_AIRFLOW_WWW_USER_PASSWORD:-}"
  if [ -n "${_AIRFLOW_WWW_USER_PASSWORD_CMD:-}" ]; then
    password="$(eval "${_AIRFLOW_WWW_USER_PASSWORD_CMD}")"
  fi
  unset _AIRFLOW_WWW_USER_PASSWORD _AIRFLOW_WWW_USER_PASSWORD_CMD
  if [ -z "${password}" ]; then
    echo "ERROR! Set _AIRFLOW_WWW_USER_PASSWORD or _AIRFLOW_WWW_USER_PASSWORD_CMD." >&2
    exit 1
  fi
  airflow users create --username "${_AIRFLOW_WWW_USER_USERNAME:-admin}" \
    --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-Airflow}" --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-Admin}" \
    --email "${_AIRFLOW_WWW_USER_EMAIL:-airflowadmin@example.com}" \
    --role "${_AIRFLOW_WWW_USER_ROLE:-Admin}" --password "${password}" || true
fi

case "${AIRFLOW_COMMAND}" in
  bash) shift; exec /bin/bash "$@" ;;
  python) shift; exec python "$@" ;;
  airflow) AIRFLOW_COMMAND="${2:-}"; shift ;;
esac

if [[ "${AIRFLOW_COMMAND}" =~ ^(scheduler|celery)$ ]] && [ "${CONNECTION_CHECK_MAX_COUNT}" -gt 0 ] \
  && [ "$(airflow config get-value core executor)" = "CeleryExecutor" ]; then
  retry "the Celery broker" port_open "$(airflow config get-value celery broker_url)"
fi

exec airflow "$@"
