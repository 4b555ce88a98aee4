# Stand-in for the official `postgres:16` and `postgres:16-alpine` images, built by
# docker/offline/build.sh where no registry answers. Tagged rest-trigger-offline/postgres:16.
#
# Keeps the documented contract the project relies on: PostgreSQL 16 listening on 5432 on all
# interfaces; data in PGDATA=/var/lib/postgresql/data; on first start, initdb with
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
# POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default POSTGRES_USER), POSTGRES_INITDB_ARGS,
# POSTGRES_HOST_AUTH_METHOD (the `host all all all` line; default from password_encryption),
# then /docker-entrypoint-initdb.d/*.sh|*.sql; arguments starting with `-` are passed to
# `postgres`; runs as the user postgres (uid 999); psql and pg_isready on PATH.
#
# Differs: the server is the `pgserver` wheel's PostgreSQL 16.2 (the version in the project's
# requirements.lock), not the image's latest 16.x, on Debian bookworm minbase; its
# server_version is plain "16.2" (like alpine's, unlike Debian's suffixed one, which
# redshift_connector cannot parse). Locale C.UTF-8; no POSTGRES_*_FILE variants, no
# POSTGRES_INITDB_WALDIR, no gosu (setpriv drops root).
ARG BASE
FROM ${BASE}

COPY requirements.lock /tmp/requirements.lock
# Only the server binaries from the wheel (no Python package at run time), in the wheel's own
# layout: they find their bundled libpq by a relative path (../../../pgserver.libs).
RUN set -eu; \
    version="$(sed -n 's/^pgserver==//p' /tmp/requirements.lock)"; \
    python3 -m venv /tmp/dl && /tmp/dl/bin/pip download --quiet --no-deps --only-binary :all: \
      -d /tmp/wheel "pgserver==${version}"; \
    python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, "/opt/pgserver") for n in z.namelist() if n.startswith(("pgserver/pginstall/", "pgserver.libs/"))]' /tmp/wheel/*.whl; \
    chmod -R a+rX /opt/pgserver && chmod a+x /opt/pgserver/pgserver/pginstall/bin/*; \
    rm -rf /tmp/dl /tmp/wheel /tmp/requirements.lock; \
    groupadd -r -g 999 postgres && useradd -r -u 999 -g postgres -d /var/lib/postgresql postgres; \
    mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d; \
    chown -R postgres:postgres /var/lib/postgresql; chmod 700 /var/lib/postgresql/data

ENV PATH=/opt/pgserver/pgserver/pginstall/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
