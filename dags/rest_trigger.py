"""
### rest-trigger

Counts one site's user activity for the accounts of one global id over a date range, in the
warehouse (Amazon Redshift; locally a PostgreSQL stand-in), and records the total in
`rest_trigger_results`, one row per run.

Started over the REST API, never on a schedule:

```
POST /api/v1/dags/rest-trigger/dagRuns
{"dag_run_id": "<yours>",
 "conf": {"gid": 42, "sid": 7, "date_start": "2024-01-01", "date_end": "2024-03-31"}}
```

| task | does |
| --- | --- |
| `pusher` | pushes the run's `gid` to XCom under the key `global_id` |
| `puller` | pulls `global_id` from `pusher` and returns it |
| `main_etl` | checks the conf, runs `include/sql/count_user_activity.sql` (bound parameters), \
loads the total into `rest_trigger_results`, returns the summary |

`main_etl`'s summary, `{dag_run_id, gid, sid, date_start, date_end, total}`, is its
`return_value` XCom.

Wrong types, missing keys and impossible dates are refused with HTTP 400 by the params below.
What a param cannot check (date order, a range over 366 days, unknown keys) fails `main_etl`
at once, without retry, with a one-line reason; nothing is written then.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pendulum
from airflow.decorators import dag, task
from airflow.models.param import Param

from rest_trigger_etl.run_conf import PARAM_SPECS

WAREHOUSE_CONN_ID = "redshift_default"


@dag(
    dag_id="rest-trigger",
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
    @task
    def pusher(**context: Any) -> None:
        context["ti"].xcom_push(key="global_id", value=context["params"]["gid"])

    @task
    def puller(**context: Any) -> int:
        return context["ti"].xcom_pull(key="global_id", task_ids="pusher")

    @task
    def main_etl(**context: Any) -> dict[str, Any]:
        from airflow.exceptions import AirflowFailException
        from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook

        from rest_trigger_etl.etl import count_activity, load_result, run_summary, total_from
        from rest_trigger_etl.run_conf import InvalidRunConf, parse_run_conf

        dag_run = context["dag_run"]
        try:
            request = parse_run_conf(dag_run.conf)
        except InvalidRunConf as exc:
            # Bad input does not get better on a retry.
            raise AirflowFailException(f"invalid conf: {exc}") from None

        conn = RedshiftSQLHook(redshift_conn_id=WAREHOUSE_CONN_ID).get_conn()
        try:
            total = total_from(count_activity(conn, request))
            load_result(conn, dag_run.run_id, request, total)
        finally:
            conn.close()
        summary = run_summary(dag_run.run_id, request, total)
        logging.getLogger(__name__).info("total=%s summary=%s", total, summary)
        return summary

    pusher() >> puller()
    main_etl()


rest_trigger()
