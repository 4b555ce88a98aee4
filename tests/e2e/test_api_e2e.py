"""End to end through the real REST API (basic auth), webserver and scheduler, started the way
`make run` starts them, against the embedded PostgreSQL warehouse."""

from __future__ import annotations

import time

import pytest
import requests

from rest_trigger_etl.names import DAG_ID, DEMO_CONF, GLOBAL_ID_KEY, MAIN_ETL, PUSHER
from tests.support import activity_rows
from tests.support.warehouse_reads import independent_count, results_rows

pytestmark = pytest.mark.e2e

CONF = DEMO_CONF
RUNS = f"/dags/{DAG_ID}/dagRuns"


def task_instance(stack, run_id: str, task_id: str) -> dict:
    return stack.get(f"{RUNS}/{run_id}/taskInstances/{task_id}").json()


def task_log(stack, run_id: str, task_id: str, try_number: int) -> str:
    response = stack.get(
        f"{RUNS}/{run_id}/taskInstances/{task_id}/logs/{try_number}",
        params={"full_content": "true"},
        headers={"Accept": "text/plain"},
    )
    response.raise_for_status()
    return response.text


def test_dag_is_listed_and_not_paused(airflow_stack) -> None:
    dags = airflow_stack.get("/dags").json()["dags"]
    assert [(d["dag_id"], d["is_paused"]) for d in dags] == [(DAG_ID, False)]
    assert airflow_stack.get("/importErrors").json()["total_entries"] == 0


def test_banner_shows_the_local_defaults_and_a_caller_curl(airflow_stack) -> None:
    """With the documented local-only defaults, the banner shows them; the curl it offers is
    the caller's (test_security_e2e.py checks that other passwords are never shown)."""
    banner = airflow_stack.wait_for_output("Ctrl-C stops everything.")
    assert "UI login (people): admin / admin" in banner
    assert "API login (other systems): caller / caller" in banner
    assert f"curl -s -u caller:caller -X POST {airflow_stack.api}{RUNS}" in banner


def test_the_default_caller_triggers_and_reads(airflow_stack) -> None:
    response = airflow_stack.post(
        RUNS, {"dag_run_id": "e2e-caller", "conf": CONF}, auth=airflow_stack.caller
    )
    assert response.status_code == 200, response.text
    assert airflow_stack.wait_for_run("e2e-caller")["state"] == "success"
    assert airflow_stack.get(f"{RUNS}/e2e-caller", auth=airflow_stack.caller).status_code == 200
    assert airflow_stack.get("/connections", auth=airflow_stack.caller).status_code == 403


def test_run_succeeds_with_the_warehouse_total(airflow_stack) -> None:
    response = airflow_stack.trigger("e2e-success", CONF)
    assert response.status_code == 200, response.text
    assert response.json()["conf"] == CONF

    run = airflow_stack.wait_for_run("e2e-success")
    assert run["state"] == "success"

    expected = independent_count(airflow_stack, **{k: CONF[k] for k in ("gid", "sid")},
                                 start=CONF["date_start"], end=CONF["date_end"])  # fmt: skip
    assert expected > 0  # the demo data must make the example meaningful
    summary = airflow_stack.xcom("e2e-success", MAIN_ETL)
    assert summary == {"dag_run_id": "e2e-success", **CONF, "total": expected}
    assert airflow_stack.xcom("e2e-success", PUSHER, GLOBAL_ID_KEY) == CONF["gid"]
    tis = airflow_stack.get(f"{RUNS}/e2e-success/taskInstances").json()["task_instances"]
    assert sorted((ti["task_id"], ti["state"]) for ti in tis) == [
        (MAIN_ETL, "success"),
        (PUSHER, "success"),
    ]
    assert results_rows(airflow_stack, "e2e-success") == [
        (42, 7, "2024-01-01", "2024-03-31", expected)
    ]
    log = task_log(airflow_stack, "e2e-success", MAIN_ETL, 1)
    assert "SQL count_user_activity.sql" in log
    # The dates travel as dates (bound as DATE by the driver), not as text.
    assert "parameters: (42, 7, datetime.date(2024, 1, 1), datetime.date(2024, 3, 31))" in log
    assert f"total={expected}" in log


def test_known_rows_give_the_independent_total_through_the_api(airflow_stack) -> None:
    """Rows of every message kind, boundary days and the days outside, another site, another
    global id, two accounts of one global id and rows with no user, added beside the demo data;
    the total the API returns is the one the test computes itself."""
    conn = airflow_stack.warehouse()
    try:
        activity_rows.insert(conn, replace_all=False)
    finally:
        conn.close()
    conf = activity_rows.CONF
    assert airflow_stack.trigger("e2e-known-rows", conf).status_code == 200
    assert airflow_stack.wait_for_run("e2e-known-rows")["state"] == "success"
    total = activity_rows.expected_total(
        activity_rows.GID, activity_rows.SITE, activity_rows.FEB_1, activity_rows.FEB_29
    )
    assert total > 0
    assert airflow_stack.xcom("e2e-known-rows", PUSHER, GLOBAL_ID_KEY) == conf["gid"]
    summary = airflow_stack.xcom("e2e-known-rows", MAIN_ETL)
    assert summary == {"dag_run_id": "e2e-known-rows", **conf, "total": total}


def test_rerun_of_the_same_run_id_keeps_one_row(airflow_stack) -> None:
    airflow_stack.trigger("e2e-rerun", CONF).raise_for_status()
    assert airflow_stack.wait_for_run("e2e-rerun")["state"] == "success"
    cleared = airflow_stack.post(
        f"/dags/{DAG_ID}/clearTaskInstances",
        {"dag_run_id": "e2e-rerun", "task_ids": [MAIN_ETL], "dry_run": False,
         "reset_dag_runs": True, "only_failed": False},
    )  # fmt: skip
    assert cleared.status_code == 200, cleared.text
    deadline = time.monotonic() + 180
    while task_instance(airflow_stack, "e2e-rerun", MAIN_ETL)["try_number"] < 2:
        assert time.monotonic() < deadline, "main_etl was not re-run"
        time.sleep(0.5)
    assert airflow_stack.wait_for_run("e2e-rerun")["state"] == "success"
    assert len(results_rows(airflow_stack, "e2e-rerun")) == 1


@pytest.mark.parametrize(
    ("conf", "reason"),
    [
        ({**CONF, "gid": "x; drop table dim_account"}, "Invalid input for param gid"),
        ({**CONF, "sid": 7.5}, "Invalid input for param sid"),
        ({**CONF, "gid": True}, "Invalid input for param gid"),
        ({k: v for k, v in CONF.items() if k != "sid"}, "Invalid input for param sid"),
        ({**CONF, "date_start": "2024-13-45"}, "is not a 'date'"),
        ({**CONF, "date_end": "2024-03-31'; DROP TABLE dim_account; --"}, "is not a 'date'"),
        ({**CONF, "gid": -1}, "Invalid input for param gid"),
    ],
)
def test_bad_input_is_refused_with_400_and_creates_nothing(airflow_stack, conf, reason) -> None:
    run_id = f"e2e-bad-{abs(hash(str(conf)))}"
    response = airflow_stack.trigger(run_id, conf)
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]
    assert airflow_stack.get(f"{RUNS}/{run_id}").status_code == 404


@pytest.mark.parametrize("run_id", ["has space", "semi;colon", "slash/in/it"])
def test_malformed_run_id_is_400_with_airflows_reason(airflow_stack, run_id) -> None:
    """Airflow 2.11 alone answers these with an HTML 500; plugins/run_id_errors.py fixes it."""
    response = airflow_stack.trigger(run_id, CONF)
    assert response.status_code == 400, response.text[:300]
    assert f"The provided run ID '{run_id}' is invalid" in response.json()["detail"]
    listed = airflow_stack.get(RUNS, params={"limit": 100}).json()["dag_runs"]
    assert run_id not in [run["dag_run_id"] for run in listed]


def test_repeated_run_id_is_409(airflow_stack) -> None:
    assert airflow_stack.trigger("e2e-twice", CONF).status_code == 200
    again = airflow_stack.trigger("e2e-twice", CONF)
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    airflow_stack.wait_for_run("e2e-twice")


@pytest.mark.parametrize("auth", [None, ("admin", "wrong-password"), ("nobody", "admin")])
def test_missing_or_wrong_credentials_are_refused(airflow_stack, auth) -> None:
    response = requests.post(
        f"{airflow_stack.api}{RUNS}",
        json={"dag_run_id": "e2e-unauthorised", "conf": CONF},
        auth=auth,
        timeout=30,
    )
    assert response.status_code in (401, 403), response.text
    assert airflow_stack.get(f"{RUNS}/e2e-unauthorised").status_code == 404


def test_a_remembered_login_does_not_open_the_door_to_other_passwords(airflow_stack) -> None:
    """plugins/rest_trigger_api/cached_basic_auth.py remembers admin/admin after one success;
    a wrong password for the same user must still be refused, every time."""
    for _ in range(3):
        assert airflow_stack.get(f"/dags/{DAG_ID}").status_code == 200
        assert airflow_stack.get(f"/dags/{DAG_ID}", auth=("admin", "admin ")).status_code in (
            401,
            403,
        )
        assert airflow_stack.get(f"/dags/{DAG_ID}", auth=("admin", "")).status_code in (401, 403)


@pytest.mark.parametrize(
    ("run_id", "conf", "reason"),
    [
        (
            "e2e-dates-reversed",
            {**CONF, "date_start": "2024-03-01", "date_end": "2024-02-01"},
            "invalid conf: date_start 2024-03-01 is after date_end 2024-02-01",
        ),
        (
            "e2e-unknown-key",
            {**CONF, "gid_typo": 1},
            "invalid conf: unknown conf key(s) gid_typo",
        ),
        (
            "e2e-range-too-long",
            {**CONF, "date_start": "2023-01-01", "date_end": "2024-12-31"},
            "invalid conf: date range is 731 days; at most 366 are allowed",
        ),
    ],
)
def test_what_params_cannot_check_fails_the_run_once_with_the_reason(
    airflow_stack, run_id, conf, reason
) -> None:
    assert airflow_stack.trigger(run_id, conf).status_code == 200
    assert airflow_stack.wait_for_run(run_id)["state"] == "failed"
    ti = task_instance(airflow_stack, run_id, PUSHER)
    assert ti["state"] == "failed"
    assert ti["try_number"] == 1  # AirflowFailException: no pointless retry
    assert reason in task_log(airflow_stack, run_id, PUSHER, 1)
    assert task_instance(airflow_stack, run_id, MAIN_ETL)["state"] == "upstream_failed"
    no_gid = airflow_stack.get(
        f"{RUNS}/{run_id}/taskInstances/{PUSHER}/xcomEntries/{GLOBAL_ID_KEY}"
    ).status_code
    assert no_gid == 404
    assert results_rows(airflow_stack, run_id) == []
