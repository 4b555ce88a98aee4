"""POSTs that race for a run's keys on the real 2.11 webserver and PostgreSQL
(plugins/rest_trigger_internals/trigger_race.py): each gets the run or Airflow's 409, never a 500.

The race is made on the metadata database, not in the webserver: a test trigger on ``dag_run``
acts only on the run ids these tests post (``race-``) and is dropped afterwards. Either it holds
each insert for a moment, so that two concurrent POSTs (two gunicorn workers) both pass the
view's check before either commits; or it inserts, once, a rival run with the same logical date
just before the caller's, which is what a POST without a logical date meets when another one
read the same microsecond from the clock (the 500 in
docs/results/2026-12-02-bench-quick-634963a.json).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests
from rest_trigger_internals.trigger_race import RETRY_LOG

from bench.server_log import api_log_count
from rest_trigger_etl.names import DAG_ID, DEMO_CONF
from tests.support.airflow_stack import AirflowStack

pytestmark = pytest.mark.e2e

RUNS = f"/dags/{DAG_ID}/dagRuns"
PREFIX = "race-"
CALLS = "rest_trigger_test_race_calls"  # a sequence: counts the trigger's calls, never rolled back
DATE = "2030-01-02T03:04:05+00:00"

HOLD = f"""
IF NEW.run_id LIKE '{PREFIX}%' THEN
  PERFORM nextval('{CALLS}');
  PERFORM pg_sleep(1.5);
END IF;
RETURN NEW;"""

RIVAL_ONCE = f"""
IF NEW.run_id LIKE '{PREFIX}%' THEN
  IF nextval('{CALLS}') = 1 THEN
    rival := NEW;
    rival.id := nextval(pg_get_serial_sequence('dag_run', 'id'));
    rival.run_id := 'rival-' || NEW.run_id;
    INSERT INTO dag_run SELECT (rival).*;
  END IF;
END IF;
RETURN NEW;"""


@contextmanager
def dag_run_trigger(stack: AirflowStack, body: str) -> Iterator[None]:
    conn = stack.metadata_db()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP SEQUENCE IF EXISTS {CALLS}; CREATE SEQUENCE {CALLS}")
            cur.execute(
                "CREATE OR REPLACE FUNCTION rest_trigger_test_race() RETURNS trigger"
                f" LANGUAGE plpgsql AS $$ DECLARE rival dag_run%ROWTYPE; BEGIN {body} END $$"
            )
            cur.execute(
                "CREATE TRIGGER rest_trigger_test_race BEFORE INSERT ON dag_run"
                " FOR EACH ROW EXECUTE FUNCTION rest_trigger_test_race()"
            )
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TRIGGER IF EXISTS rest_trigger_test_race ON dag_run")
            cur.execute("DROP FUNCTION IF EXISTS rest_trigger_test_race()")
        conn.close()


def trigger_calls(stack: AirflowStack) -> int:
    conn = stack.metadata_db()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {CALLS}")
            return cur.fetchone()[0]
    finally:
        conn.close()


def retries_logged(stack: AirflowStack) -> int:
    return api_log_count(stack.state_dir, RETRY_LOG)


def post(stack: AirflowStack, body: dict) -> requests.Response:
    return requests.post(f"{stack.api}{RUNS}", json=body, auth=stack.caller, timeout=60)


def concurrently(stack: AirflowStack, *bodies: dict) -> list[requests.Response]:
    """The bodies POSTed at once, each on its own connection (so each by its own worker)."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: post(stack, body), bodies))


def described(answers: list[requests.Response]) -> str:
    return "\n".join(f"{a.status_code} {a.text[:300]}" for a in answers)


def test_a_post_without_a_logical_date_that_meets_the_same_one_gets_its_run(airflow_stack) -> None:
    before = retries_logged(airflow_stack)
    run_id = f"{PREFIX}no-date"
    with dag_run_trigger(airflow_stack, RIVAL_ONCE):
        answer = post(airflow_stack, {"dag_run_id": run_id, "conf": DEMO_CONF})
        calls = trigger_calls(airflow_stack)
    assert answer.status_code == 200, answer.text
    assert answer.json()["dag_run_id"] == run_id
    assert calls == 2, "the first insert should have met the rival, the second not"
    assert retries_logged(airflow_stack) == before + 1, airflow_stack.log_tail()
    assert airflow_stack.get(f"{RUNS}/{run_id}").status_code == 200
    assert airflow_stack.get(f"{RUNS}/rival-{run_id}").status_code == 404  # rolled back with it


@pytest.mark.parametrize(
    ("bodies", "refusal"),
    [
        pytest.param(
            [{"dag_run_id": f"{PREFIX}same-id", "conf": DEMO_CONF}] * 2,
            f"DAGRun ID: '{PREFIX}same-id' already exists",
            id="same-dag-run-id",
        ),
        pytest.param(
            [
                {"dag_run_id": f"{PREFIX}date-{n}", "logical_date": DATE, "conf": DEMO_CONF}
                for n in (1, 2)
            ],
            "DAGRun logical date: '2030-01-02 03:04:05+00:00' already exists",
            id="same-logical-date",
        ),
    ],
)
def test_two_concurrent_posts_for_the_same_key_get_the_run_and_a_409(
    airflow_stack, bodies: list[dict], refusal: str
) -> None:
    before = retries_logged(airflow_stack)
    with dag_run_trigger(airflow_stack, HOLD):
        answers = concurrently(airflow_stack, *bodies)
    assert sorted(a.status_code for a in answers) == [200, 409], described(answers)
    conflict = next(a for a in answers if a.status_code == 409)
    assert refusal in conflict.json()["detail"], conflict.text
    # Both passed the view's check before either committed: the second one lost the race and
    # was answered by the retry's check (without the retry: a 500).
    assert retries_logged(airflow_stack) == before + 1, described(answers)
