"""The Airflow stacks the benchmark measures, started with the shared harness
(tests/support/harness.py), each in its own subprocess on free ports and a throwaway state
folder.

- ``project``: ``python -m rest_trigger_local``, exactly what ``make run`` starts (the project's
  airflow.cfg, LocalExecutor on the embedded PostgreSQL).
- ``stock``: ``python -m bench.stock_stack``: the same launcher, DAG and warehouse, but Airflow's
  own defaults (SQLite metadata database, SequentialExecutor, no tuning).
- ``airflow3``: the project on Airflow 3.3.2 (``make run AIRFLOW=3``: the same launcher with
  .venv-airflow3's interpreter; api-server, scheduler, dag-processor; /api/v2 with a JWT).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.support import harness

STARTUP_TIMEOUT = 600
MODULES = {
    "project": "rest_trigger_local",
    "stock": "bench.stock_stack",
    "airflow3": "rest_trigger_local",
}
AIRFLOW_MAJOR = {"airflow3": 3}  # the others run .venv's Airflow 2.11


@dataclass
class Stack(harness.Stack):
    variant: str = "project"

    @property
    def auth(self) -> tuple[str, str]:
        """The login the benchmark calls the API with: the caller account, as other systems
        do; on the stock stack the admin, because under Airflow's own auth manager only a role
        that may edit the DAG can trigger it."""
        return self.admin if self.variant == "stock" else self.caller


def start(variant: str, demo_rows: int) -> Stack:
    return Stack.start(
        {"DEMO_ROWS": str(demo_rows)},
        state_dir=harness.open_temp_folder(f"rest-trigger-bench-{variant}-"),
        module=MODULES[variant],
        new_session=True,  # Ctrl-C on the benchmark reaches it only through stop()
        timeout=STARTUP_TIMEOUT,
        airflow=AIRFLOW_MAJOR.get(variant, 2),
        variant=variant,
    )


def stop(stack: Stack) -> None:
    """SIGTERM the launcher (it stops everything it started), as Ctrl-C would."""
    harness.stop(stack)
