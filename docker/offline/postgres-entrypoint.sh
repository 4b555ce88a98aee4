#!/usr/bin/env bash
# The stand-in postgres image's entrypoint: the official image's documented start-up behaviour
# (see postgres.Dockerfile's header), written for this image.
set -Eeuo pipefail

if [ "${1:0:1}" = "-" ]; then
  set -- postgres "$@"
fi

if [ "$1" = "postgres" ] && [ "$(id -u)" = "0" ]; then
  # As root only to own the data directory (a fresh volume is root's), then as postgres.
  mkdir -p "${PGDATA}"
  chown -R postgres:postgres "${PGDATA}"
  chmod 700 "${PGDATA}"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = "postgres" ] && [ ! -s "${PGDATA}/PG_VERSION" ]; then
  POSTGRES_USER="${POSTGRES_USER:-postgres}"
  POSTGRES_DB="${POSTGRES_DB:-${POSTGRES_USER}}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != "trust" ]; then
    echo "Error: database is uninitialized and superuser password is not specified." >&2
    echo "  Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)." >&2
    exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"${pwfile}"
  # POSTGRES_INITDB_ARGS is a string of options, split like the official image does.
  eval 'initdb --username="${POSTGRES_USER}" --pwfile="${pwfile}" --encoding=UTF8 --locale=C.UTF-8 '"${POSTGRES_INITDB_ARGS:-}"
  rm -f "${pwfile}"
  echo "listen_addresses = '*'" >>"${PGDATA}/postgresql.conf"
  # The same default as the official image: the password_encryption the server will run with.
  auth="${POSTGRES_HOST_AUTH_METHOD:-$(postgres -C password_encryption "${@:2}")}"
  printf '\nhost all all all %s\n' "${auth}" >>"${PGDATA}/pg_hba.conf"

  # A private server (no TCP) for the database and the init scripts.
  options="-c listen_addresses=''"
  if [ "$#" -gt 1 ]; then
    options="${options} $(printf '%q ' "${@:2}")"
  fi
  pg_ctl -D "${PGDATA}" -o "${options}" -w start >/dev/null
  export PGUSER="${POSTGRES_USER}" PGDATABASE=postgres
  if [ "${POSTGRES_DB}" != "postgres" ]; then
    psql -v ON_ERROR_STOP=1 -q -v db="${POSTGRES_DB}" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "${f}" ] || continue
    case "${f}" in
      *.sh) echo "running ${f}"; . "${f}" ;;
      *.sql) echo "running ${f}"; psql -v ON_ERROR_STOP=1 -q --dbname "${POSTGRES_DB}" -f "${f}" ;;
      *) echo "ignoring ${f}" ;;
    esac
  done
  unset PGUSER PGDATABASE
  pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
