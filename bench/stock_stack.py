"""The baseline: ``make run``'s launcher with stock Airflow 2.11 settings (``python -m
bench.stock_stack``; a Launcher subclass handed to ``launcher.run``).

Same DAG, plugins, warehouse (embedded PostgreSQL, relay, demo data), admin user and API, but the
metadata database is SQLite, the executor SequentialExecutor, and every setting the project's
airflow.cfg changes is back at Airflow's default, except the few without which the same DAG
could not be reached over the same API (listed in STOCK_CFG).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rest_trigger_local import launcher

# Only what the benchmark needs to reach the same DAG over the same API; Airflow's defaults
# for the rest (scheduler_idle_sleep_time=1, parallelism=32, webserver workers=4, ...).
STOCK_CFG = """\
[core]
dags_folder = ${REST_TRIGGER_HOME}/dags
plugins_folder = ${REST_TRIGGER_HOME}/plugins
executor = SequentialExecutor
load_examples = False

[database]
load_default_connections = False

[api]
auth_backends = airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,\
    airflow.api.auth.backend.session
"""


class StockLauncher(launcher.Launcher):
    """The launcher with stock Airflow settings in place of the project's airflow.cfg."""

    def airflow_environment(self, secret_values: dict[str, str]) -> dict[str, str]:
        env = super().airflow_environment(secret_values)
        home = self.state / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        cfg = self.state / "stock-airflow.cfg"
        cfg.write_text(STOCK_CFG)
        env.update(
            {
                "AIRFLOW_CONFIG": str(cfg),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
                # SequentialExecutor runs each task as an `airflow tasks run` subprocess found
                # on PATH: this interpreter's.
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            }
        )
        return env


def main() -> None:
    sys.exit(launcher.run(StockLauncher))


if __name__ == "__main__":
    main()
