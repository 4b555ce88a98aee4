# Stand-in for the official `redis:7.4` image, built by docker/offline/build.sh where no
# registry answers. Tagged rest-trigger-offline/redis:7 (it is not 7.4).
#
# Keeps the contract the compose file relies on: `redis-server` on 6379 on every interface,
# reachable from other containers without a config file (the official image turns protected
# mode off; so does this one unless the arguments say otherwise), `redis-cli` on PATH for the
# healthcheck, arguments starting with `-` (or a .conf file) passed to redis-server, working
# directory /data, runs as the user redis.
#
# Differs: Debian bookworm's redis-server package (Redis 7.0), not 7.4; no REDIS_* variables of
# later images.
ARG BASE
FROM ${BASE}

RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
