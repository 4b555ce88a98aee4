"""The guards on plugins/rest_trigger_internals/run_id_errors.py and api_client_errors.py: the
2.11 message texts they match are the texts Airflow, psycopg2 and the state enums raise.
Fails when an upgrade rewords one (the mapping would then silently stop matching)."""

from __future__ import annotations

import pendulum
import psycopg2.extensions
import pytest
from airflow.exceptions import AirflowException
from airflow.utils.state import DagRunState, TaskInstanceState
from rest_trigger_internals.api_client_errors import NOT_A_STATE, NUL_IN_STRING
from rest_trigger_internals.run_id_errors import BAD_RUN_ID


def test_a_malformed_run_id_is_refused_with_the_text_it_matches() -> None:
    # 2.11's own DAG and create_dagrun, on purpose: this guards the 2.11 code path.
    from airflow.models.dag import DAG

    start = pendulum.datetime(2024, 1, 1)
    dag = DAG("guard-run-id", schedule=None, start_date=start)  # noqa: AIR311
    with pytest.raises(AirflowException) as raised:
        dag.create_dagrun(  # noqa: AIR301
            run_id="bad id/with spaces", state=DagRunState.QUEUED,
            execution_date=pendulum.datetime(2024, 1, 2), data_interval=None,
        )  # fmt: skip
    assert type(raised.value) is AirflowException  # the handler is registered for this class
    assert str(raised.value).startswith(BAD_RUN_ID), str(raised.value)


def test_psycopg2_refuses_a_nul_with_the_text_it_matches() -> None:
    with pytest.raises(ValueError) as raised:
        psycopg2.extensions.QuotedString("a\x00b").getquoted()
    assert str(raised.value) == NUL_IN_STRING


@pytest.mark.parametrize("enum", [TaskInstanceState, DagRunState])
def test_an_unknown_state_is_refused_with_the_text_it_matches(enum: type) -> None:
    with pytest.raises(ValueError) as raised:
        enum("no-such-state")
    assert str(raised.value).endswith(NOT_A_STATE), str(raised.value)
