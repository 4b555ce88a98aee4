#!/usr/bin/env bash
# The stand-in redis image's entrypoint: the official image's documented behaviour (see
# redis.Dockerfile's header), written for this image.
set -euo pipefail

if [ "${1:0:1}" = "-" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = "redis-server" ]; then
  # The official build's default: no protected mode (the compose network is the boundary).
  case " $* " in
    *" --protected-mode "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
  if [ "$(id -u)" = "0" ]; then
    chown -R redis:redis /data 2>/dev/null || true
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi

exec "$@"
