# Stand-in for the official `apache/airflow:2.11.2-python3.11` image, built by
# docker/offline/build.sh where no registry answers. Tagged
# rest-trigger-offline/airflow:2.11.2-python3.11; the project's Dockerfile builds on it when
# AIRFLOW_BASE_IMAGE names it. With AIRFLOW_VERSION=3.3.2 and
# AIRFLOW_LOCK=requirements-airflow3.lock (`build.sh --airflow3`) the same recipe is the stand-in
# for `apache/airflow:3.3.2-python3.11`, rest-trigger-offline/airflow:3.3.2-python3.11, which
# docker-compose.airflow3.yaml builds on when AIRFLOW3_BASE_IMAGE names it.
#
# Keeps the documented contract (https://airflow.apache.org/docs/docker-stack/): the user
# `airflow`, uid 50000, gid 0, home /home/airflow; AIRFLOW_HOME=/opt/airflow as the working
# directory, group-writable; AIRFLOW_VERSION and AIRFLOW_USER_HOME_DIR set; Airflow installed
# where `pip install` run as the airflow user installs too (so a Dockerfile extending it works
# unchanged); ENTRYPOINT dumb-init -> /entrypoint with its documented behaviour (see
# airflow-entrypoint.sh); /etc/passwd group-writable so an arbitrary uid with gid 0 gets a
# name; curl, nc and dumb-init on PATH (the compose healthchecks use them).
#
# Differs: Debian bookworm's Python 3.11.2 (not the image's latest 3.11.x) in a virtualenv at
# /home/airflow/.local (Debian's Python is externally managed: `pip install --user` is refused),
# so PIP_USER is not set; only the providers this project uses (amazon, celery, postgres, fab
# and their dependencies), at the versions of the project's lock (requirements.lock or -airflow3) in place of
# Airflow's constraints file (which this machine cannot reach); no MySQL/MSSQL clients, no
# _PIP_ADDITIONAL_REQUIREMENTS support (the project never uses it), no LD_PRELOAD workaround.
ARG BASE
FROM ${BASE}

RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      dumb-init curl netcat-openbsd procps libstdc++6 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow --shell /bin/bash airflow \
 && mkdir -p /opt/airflow \
 && chown -R airflow:0 /opt/airflow /home/airflow \
 && chmod -R g=u /opt/airflow /home/airflow \
 && chmod g=u /etc/passwd

# The Airflow version and the lock it is installed from: 2.11.2 with requirements.lock (the
# default), or 3.3.2 with requirements-airflow3.lock (build.sh --airflow3): one recipe for both.
# Declared after the system layer, so both versions share it in the build cache.
ARG AIRFLOW_VERSION=2.11.2
ARG AIRFLOW_LOCK=requirements.lock
ENV AIRFLOW_VERSION=${AIRFLOW_VERSION} \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_USER_HOME_DIR=/home/airflow \
    AIRFLOW_UID=50000 \
    PATH=/home/airflow/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DUMB_INIT_SETSID=1 \
    LANG=C.UTF-8

COPY --chown=airflow:0 ${AIRFLOW_LOCK} /tmp/requirements.lock
COPY --chown=airflow:0 requirements-dev.lock /tmp/
USER airflow
# uv only to install faster (pinned by the project's dev lock); it does not stay in the image.
RUN set -eu; \
    python3 -m venv /home/airflow/.local; \
    python3 -m venv /tmp/uv-venv; \
    /tmp/uv-venv/bin/pip install --quiet "uv==$(sed -n 's/^uv==//p' /tmp/requirements-dev.lock)"; \
    UV_NATIVE_TLS=1 /tmp/uv-venv/bin/uv pip install --quiet --no-cache \
      --python /home/airflow/.local/bin/python -c /tmp/requirements.lock \
      "apache-airflow==${AIRFLOW_VERSION}" apache-airflow-providers-amazon \
      apache-airflow-providers-celery apache-airflow-providers-postgres \
      apache-airflow-providers-fab; \
    rm -rf /tmp/uv-venv /tmp/requirements.lock /tmp/requirements-dev.lock; \
    chmod -R g=u /home/airflow

USER root
COPY airflow-entrypoint.sh /entrypoint
RUN chmod 755 /entrypoint
USER 50000
WORKDIR /opt/airflow
EXPOSE 8080
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []
