"""The Airflow webserver's Flask settings for this project (`[webserver] config_file`).

Airflow 2.11 loads this file after its own settings, so what it sets wins. It holds Airflow's
own defaults, so that nothing is generated into AIRFLOW_HOME (the body limit is the
``request_body_limit`` switch: plugins/rest_trigger_api/request_size_limit.py). Used by
``make run`` and, mounted at /opt/airflow/webserver_config.py, by the compose stack. It holds
no secret.
"""

from __future__ import annotations

from flask_appbuilder.const import AUTH_DB

# Airflow's own defaults (its default_webserver_config.py), which this file replaces: users and
# passwords in the metadata database, CSRF protection for the UI's forms.
AUTH_TYPE = AUTH_DB
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None
