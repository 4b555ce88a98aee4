# The project's Airflow image: the official Airflow 2.11.2 image (Python 3.11) plus the project's
# locked dependencies and its code. `docker compose up` builds it (or `docker compose build`).
#
# Keep this tag in step with requirements.lock: its apache-airflow pin must equal the tag's
# Airflow version and the lock's `--python-version` the tag's Python (tests/test_compose.py
# checks both). AIRFLOW_BASE_IMAGE names another image with the same contract, e.g. the local
# stand-in docker/offline/build.sh makes where no registry answers.
#
# The same file builds the Airflow 3 variant (docker-compose.airflow3.yaml passes
# AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11 and AIRFLOW_LOCK=requirements-airflow3.lock);
# the version check below holds it to the same rule.
ARG AIRFLOW_BASE_IMAGE=apache/airflow:2.11.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE}
# Which lock to install: requirements.lock (Airflow 2.11) or requirements-airflow3.lock.
ARG AIRFLOW_LOCK=requirements.lock

# The same lock `make venv` installs, installed as the airflow user (the image's own rule: no
# root pip, no _PIP_ADDITIONAL_REQUIREMENTS at start-up). The lock pins every package, so its
# versions win over the ones the image came with. It pins apache-airflow to the image's own
# version; the check after the install fails the build should that ever stop being true (a
# 2.11 base with the Airflow 3 lock, or the other way round, stops here).
COPY --chown=airflow:0 ${AIRFLOW_LOCK} /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock \
 && installed="$(pip show apache-airflow | sed -n 's/^Version: //p')" \
 && if [ "${installed}" != "${AIRFLOW_VERSION}" ]; then \
      echo "${AIRFLOW_LOCK} installed apache-airflow ${installed}, the image is ${AIRFLOW_VERSION}" >&2; \
      exit 1; \
    fi

# airflow.cfg finds dags/ and plugins/ under ${REST_TRIGGER_HOME}; the checkout for `make run`,
# /opt/airflow (the image's AIRFLOW_HOME and working directory) here.
ENV REST_TRIGGER_HOME=/opt/airflow \
    AIRFLOW_CONFIG=/opt/airflow/airflow.cfg

COPY --chown=airflow:0 airflow.cfg /opt/airflow/airflow.cfg
COPY --chown=airflow:0 webserver_config.py /opt/airflow/webserver_config.py
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
# Not the product, run beside it from /opt/airflow (the working directory): the deploy-time
# helpers (`python -m deploy.accounts`, `deploy.compose.*`) and the warehouse stand-in
# (`python -m warehouse_standin.relay` / `.seed`). The local stack (rest_trigger_local) is not in
# the image.
COPY --chown=airflow:0 deploy/ /opt/airflow/deploy/
COPY --chown=airflow:0 warehouse_standin/ /opt/airflow/warehouse_standin/
