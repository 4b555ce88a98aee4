"""
### rest-trigger

Counts one site's user activity for the accounts of one global id over a date range, in the
warehouse (Amazon Redshift; locally a PostgreSQL stand-in), leaving out membership events
(`JOINED`, `LEFT`) and rows with no user, and records the total in `rest_trigger_results`, one
row per run.

Started over the REST API, never on a schedule:

```
POST /api/v1/dags/rest-trigger/dagRuns
{"dag_run_id": "<yours>",
 "conf": {"gid": 42, "sid": 7, "date_start": "2024-01-01", "date_end": "2024-03-31"}}
```

| task | does |
| --- | --- |
| `pusher` | checks the run (what the params below cannot), pushes `gid` to XCom under the key \
`global_id` |
| `main_etl` | pulls `global_id` from `pusher`, runs `include/sql/count_user_activity.sql` \
(bound parameters) into a pandas DataFrame, loads the total into `rest_trigger_results`, \
returns the summary |

`pusher >> main_etl`: the gid `main_etl` counts for is the one `pusher` handed over.
`main_etl`'s summary, `{dag_run_id, gid, sid, date_start, date_end, total}`, is its
`return_value` XCom.

Wrong types, missing keys and impossible dates are refused with HTTP 400 by the params below.
What a param cannot check (date order, a range over 366 days, unknown keys) fails `pusher`
at once, without retry, with a one-line reason; `main_etl` does not run and nothing is written.
Each check runs once; `main_etl` checks nothing again, it converts the params' values and
takes `pusher`'s gid as handed over.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pendulum

# The authoring names from the Task SDK on Airflow 3, from where they always were on 2.11.
from rest_trigger_etl.airflow_compat import Param, dag, task
from rest_trigger_etl.names import DAG_ID, GLOBAL_ID_KEY, MAIN_ETL, PUSHER, WAREHOUSE_CONN_ID
from rest_trigger_etl.run_conf import PARAM_SPECS


@dag(
    dag_id=DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["rest-api", "redshift", "etl"],
    params={name: Param(**spec) for name, spec in PARAM_SPECS.items()},
    default_args={
        "owner": "data-platform",
        "retries": 1,
        "retry_delay": dt.timedelta(seconds=10),
    },
)
def rest_trigger() -> None:
    @task(task_id=PUSHER)
    def pusher(**context: Any) -> None:
        from rest_trigger_etl.airflow_compat import AirflowFailException
        from rest_trigger_etl.run_conf import InvalidRunConf, checked_request

        try:  # the params are validated already; this adds what no param can check
            request = checked_request(context["params"], context["dag_run"].conf)
        except InvalidRunConf as exc:
            # Bad input does not get better on a retry.
            raise AirflowFailException(f"invalid conf: {exc}") from None
        context["ti"].xcom_push(key=GLOBAL_ID_KEY, value=request.gid)

    # One XCom, return_value: without multiple_outputs=False, the dict return type would make
    # Airflow also push each key of the summary as an XCom of its own (six more rows a run).
    @task(task_id=MAIN_ETL, multiple_outputs=False)
    def main_etl(**context: Any) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook

        from rest_trigger_etl.airflow_compat import AirflowFailException
        from rest_trigger_etl.etl import count_activity, load_result, run_summary, total_from
        from rest_trigger_etl.run_conf import InvalidRunConf, request_from

        gid = context["ti"].xcom_pull(key=GLOBAL_ID_KEY, task_ids=PUSHER)
        try:  # conversion only: pusher and the params have checked every value
            request = request_from(gid, context["params"])
        except InvalidRunConf as exc:  # no gid in XCom
            raise AirflowFailException(f"invalid run: {exc}") from None

        run_id = context["dag_run"].run_id
        conn = RedshiftSQLHook(redshift_conn_id=WAREHOUSE_CONN_ID).get_conn()
        try:
            total = total_from(count_activity(conn, request))
            load_result(conn, run_id, request, total)
        finally:
            conn.close()
        summary = run_summary(run_id, request, total)
        logging.getLogger(__name__).info("total=%s summary=%s", total, summary)
        return summary

    pusher() >> main_etl()


rest_trigger()
