#!/usr/bin/env bash
# Builds local stand-ins for the upstream images docker-compose.yaml and the test fixtures use,
# for machines where no container registry answers (this project's CI; an air-gapped host).
#
#   docker/offline/build.sh            # build what is missing or out of date; print the names
#   docker/offline/build.sh --env      # the same, then print `NAME=image` lines for compose
#   docker/offline/build.sh --airflow3 [--env]   # also the Airflow 3.3.2 stand-in (and its line)
#
# The Airflow 3 stand-in (for docker-compose.airflow3.yaml) is built only when asked: it is a
# second Airflow install (142 s on a loaded 2-core machine, then cached like the others), which
# a 2.11-only user or CI job never needs.
#
# Every stand-in is tagged under ${OFFLINE_IMAGE_PREFIX:-rest-trigger-offline}/..., never under
# an official name, so nothing can mistake one for the real image; docker-compose.yaml reads
# each image name from a variable whose default is the official image.
#
# The base, rest-trigger-offline/debian:bookworm, is Debian bookworm (minbase) made by
# debootstrap from the Debian mirror this machine's own apt uses (DEBIAN_MIRROR overrides; the
# repository names none), plus python3 and this machine's CA bundle (so builds behind
# an HTTPS-inspecting proxy can reach PyPI). debootstrap is the slow step (~50 s): its tarball
# is cached in ${REST_TRIGGER_CACHE:-~/.cache/rest-trigger}, and the built images stay in the
# engine, each labelled with a hash of its inputs: a second run rebuilds nothing that did not
# change. Builds use the host's network (`docker build --network host`: an engine started with
# --bridge=none has no default bridge); nothing is pulled.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
project="$(cd "${here}/../.." && pwd)"
prefix="${OFFLINE_IMAGE_PREFIX:-rest-trigger-offline}"
cache="${REST_TRIGGER_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/rest-trigger}"
# The first mirror this machine's apt takes bookworm (not -security, -updates) from: deb822
# .sources stanzas first, then one-line sources.list entries.
machine_mirror() {
  local files=(/etc/apt/sources.list.d/*.sources) found=""
  if [ -e "${files[0]}" ]; then
    found=$(awk 'BEGIN { RS = "" } {
      deb = 0; suite = 0; uri = ""; n = split($0, lines, "\n")
      for (k = 1; k <= n; k++) {
        line = lines[k]
        if (line ~ /^Types:/ && (" " substr(line, 7) " ") ~ /[ \t]deb[ \t]/) deb = 1
        if (line ~ /^Suites:/ && (" " substr(line, 8) " ") ~ /[ \t]bookworm[ \t]/) suite = 1
        if (line ~ /^URIs:/ && uri == "") {
          m = split(substr(line, 6), u, /[ \t]+/)
          for (j = 1; j <= m; j++) if (u[j] != "") { uri = u[j]; break }
        }
      }
      if (deb && suite && uri != "") { print uri; exit }
    }' "${files[@]}")
  fi
  if [ -z "${found}" ] && [ -r /etc/apt/sources.list ]; then
    found=$(awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                 if ($(i + 1) == "bookworm") { print $i; exit } }' /etc/apt/sources.list)
  fi
  echo "${found}"
}
mirror="${DEBIAN_MIRROR:-$(machine_mirror)}"
if [ -z "${mirror}" ]; then
  echo "offline images: no Debian bookworm mirror in /etc/apt; set DEBIAN_MIRROR" >&2
  exit 1
fi
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
base="${prefix}/debian:bookworm"

log() { echo "offline images: $*" >&2; }

has_image() { docker image inspect "$1" >/dev/null 2>&1; }

label_of() {
  docker image inspect --format '{{ index .Config.Labels "rest-trigger.inputs" }}' "$1" 2>/dev/null || true
}

build_base() {
  local ca_sum tarball
  ca_sum="$(sha256sum "${ca_bundle}" | cut -c1-16)"
  if has_image "${base}" && [ "$(label_of "${base}")" = "${ca_sum}" ]; then
    log "${base} present"
    return
  fi
  tarball="${cache}/debian-bookworm-minbase.tar"
  if [ ! -s "${tarball}" ]; then
    command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
    [ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }
    local root
    root="$(mktemp -d /tmp/rest-trigger-rootfs.XXXXXX)"
    log "debootstrap bookworm from ${mirror} (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "${root}" "${mirror}" >"${root}.log" 2>&1 || { tail -20 "${root}.log" >&2; exit 1; }
    # apt in the image uses the same mirror; no package lists or caches in the layer.
    echo "deb ${mirror} bookworm main" >"${root}/etc/apt/sources.list"
    rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/cache/apt/archives/*.deb
    mkdir -p "${cache}"
    tar -C "${root}" --numeric-owner -cf "${tarball}.tmp" . && mv "${tarball}.tmp" "${tarball}"
    rm -rf "${root}" "${root}.log"
  fi
  # The machine's CA bundle goes in at import time (a Dockerfile could not read it).
  local ctx
  ctx="$(mktemp -d /tmp/rest-trigger-base.XXXXXX)"
  cp "${ca_bundle}" "${ctx}/build-host-ca.crt"
  printf 'FROM %s-rootfs\nCOPY build-host-ca.crt /usr/local/share/ca-certificates/build-host-ca.crt\nRUN update-ca-certificates >/dev/null\nLABEL rest-trigger.inputs=%s\nCMD ["bash"]\n' \
    "${base}" "${ca_sum}" >"${ctx}/Dockerfile"
  docker import - "${base}-rootfs" <"${tarball}" >/dev/null
  DOCKER_BUILDKIT=0 docker build --quiet --network host -t "${base}" "${ctx}" >/dev/null 2>&1
  docker rmi "${base}-rootfs" >/dev/null 2>&1 || true
  rm -rf "${ctx}"
  log "built ${base}"
}

# build NAME DOCKERFILE [--build-arg K=V]... FILE...: a context of just those files (plus the
# project's lock when asked), rebuilt only when their hash, the build args or the base changed.
build() {
  local name="$1" dockerfile="$2"
  shift 2
  local ctx inputs args=()
  while [ "${1:-}" = "--build-arg" ]; do
    args+=(--build-arg "$2")
    shift 2
  done
  ctx="$(mktemp -d /tmp/rest-trigger-ctx.XXXXXX)"
  cp "${here}/${dockerfile}" "${ctx}/Dockerfile"
  for f in "$@"; do cp "${f}" "${ctx}/"; done
  # No build args: the same hash as before they existed, so a 2.11 stand-in is not rebuilt.
  inputs="$( (cd "${ctx}" && sha256sum ./* ; docker image inspect --format '{{.Id}}' "${base}"; \
    if [ "${#args[@]}" -gt 0 ]; then printf '%s\n' "${args[@]}"; fi) | sha256sum | cut -c1-16)"
  if has_image "${name}" && [ "$(label_of "${name}")" = "${inputs}" ]; then
    log "${name} present"
  else
    local start=${SECONDS}
    log "building ${name} from docker/offline/${dockerfile}"
    DOCKER_BUILDKIT=0 docker build --network host --build-arg "BASE=${base}" "${args[@]}" \
      --label "rest-trigger.inputs=${inputs}" -t "${name}" "${ctx}" >"${ctx}.log" 2>&1 \
      || { tail -40 "${ctx}.log" >&2; exit 1; }
    log "built ${name} in $((SECONDS - start)) s"
  fi
  rm -rf "${ctx}" "${ctx}.log"
}

airflow3=0
env_lines=0
for arg in "$@"; do
  case "${arg}" in
    --airflow3) airflow3=1 ;;
    --env) env_lines=1 ;;
    *) log "unknown argument ${arg} (--airflow3, --env)"; exit 2 ;;
  esac
done

build_base
build "${prefix}/postgres:16" postgres.Dockerfile "${here}/postgres-entrypoint.sh" "${project}/requirements.lock"
build "${prefix}/redis:7" redis.Dockerfile "${here}/redis-entrypoint.sh"
build "${prefix}/airflow:2.11.2-python3.11" airflow.Dockerfile "${here}/airflow-entrypoint.sh" \
  "${project}/requirements.lock" "${project}/requirements-dev.lock"
airflow3_version="$(sed -n 's/^apache-airflow==//p' "${project}/requirements-airflow3.lock")"
if [ "${airflow3}" = 1 ]; then
  # The same recipe with Airflow 3's version and lock (docker-compose.airflow3.yaml).
  build "${prefix}/airflow:${airflow3_version}-python3.11" airflow.Dockerfile \
    --build-arg "AIRFLOW_VERSION=${airflow3_version}" \
    --build-arg "AIRFLOW_LOCK=requirements-airflow3.lock" \
    "${here}/airflow-entrypoint.sh" "${project}/requirements-airflow3.lock" \
    "${project}/requirements-dev.lock"
fi

if [ "${env_lines}" = 1 ]; then
  # The variables docker-compose.yaml reads its image names from.
  echo "POSTGRES_IMAGE=${prefix}/postgres:16"
  echo "WAREHOUSE_DB_IMAGE=${prefix}/postgres:16"
  echo "REDIS_IMAGE=${prefix}/redis:7"
  echo "AIRFLOW_BASE_IMAGE=${prefix}/airflow:2.11.2-python3.11"
  if [ "${airflow3}" = 1 ]; then
    # The base the Airflow 3 variant reads (docker-compose.airflow3.yaml).
    echo "AIRFLOW3_BASE_IMAGE=${prefix}/airflow:${airflow3_version}-python3.11"
  fi
fi
