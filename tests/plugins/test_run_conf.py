"""Unit tests of the run's validation, run without a scheduler: the Params (built from
PARAM_SPECS as the DAG builds them) refuse every bad value, ``checked_request`` only what a Param
cannot express, and ``request_from`` converts without checking again."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from airflow.exceptions import ParamValidationError

try:  # as the DAG imports them: Airflow 3's Task SDK, else 2.11's own module
    from airflow.sdk.definitions.param import Param, ParamsDict
except ImportError:
    from airflow.models.param import Param, ParamsDict

from rest_trigger_etl.names import DEMO_CONF
from rest_trigger_etl.run_conf import (
    MAX_RANGE_DAYS,
    PARAM_SPECS,
    InvalidRunConf,
    RunRequest,
    checked_request,
    request_from,
)

GOOD = DEMO_CONF


def validated(conf: dict[str, Any]) -> dict[str, Any]:
    """The conf as Airflow's Params validate it (the DAG's ``params=``): refused with
    ParamValidationError, which the API answers with HTTP 400 at POST."""
    params = ParamsDict({name: Param(**spec) for name, spec in PARAM_SPECS.items()})
    params.update(conf)
    return params.validate()


def checked(conf: dict[str, Any]) -> RunRequest:
    """What ``pusher`` does with a run's conf: the validated params, then its own check."""
    return checked_request(validated(conf), conf)


def test_valid_conf_gives_the_request() -> None:
    assert checked(GOOD) == RunRequest(42, 7, dt.date(2024, 1, 1), dt.date(2024, 3, 31))


def test_whole_float_passes_the_params_and_is_converted_to_int() -> None:
    request = checked({**GOOD, "gid": 42.0, "sid": 7.0})
    assert (request.gid, request.sid) == (42, 7)
    assert type(request.gid) is int and type(request.sid) is int


def test_as_json_round_trips() -> None:
    assert checked(GOOD).as_json() == GOOD


def test_single_day_range_is_allowed() -> None:
    request = checked({**GOOD, "date_end": GOOD["date_start"]})
    assert request.date_start == request.date_end


def test_longest_range_is_allowed_and_one_more_day_is_not() -> None:
    start = dt.date(2024, 1, 1)
    last_ok = start + dt.timedelta(days=MAX_RANGE_DAYS - 1)
    assert checked({**GOOD, "date_end": last_ok.isoformat()}).date_end == last_ok
    with pytest.raises(InvalidRunConf, match=f"{MAX_RANGE_DAYS + 1} days"):
        checked({**GOOD, "date_end": (last_ok + dt.timedelta(days=1)).isoformat()})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"date_start": "2024-04-01"}, "date_start 2024-04-01 is after date_end 2024-03-31"),
        ({"extra": 1}, "unknown conf key(s) extra; accepted: gid, sid, date_start, date_end"),
        ({"date_end": "2025-01-01"}, "date range is 367 days; at most 366 are allowed"),
    ],
)
def test_what_no_param_can_check_is_refused_with_one_line_reason(change, reason) -> None:
    with pytest.raises(InvalidRunConf) as excinfo:
        checked({**GOOD, **change})
    message = str(excinfo.value)
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "change",
    [
        {"gid": True},
        {"gid": "42"},
        {"sid": 7.5},
        {"sid": -1},
        {"gid": 2**63},
        {"date_end": "2024-02-30"},
        {"date_end": "20240301"},
        {"date_end": "2024-03-01T00:00:00"},
        {"date_end": "2024-03-01\n"},
        {"date_end": 20240301},
        {"date_start": "2024-01-01'; DROP TABLE dim_account; --"},
    ],
)
def test_bad_values_are_refused_by_the_params_not_again_later(change) -> None:
    # Refused before any run exists; so checked_request and request_from never see them.
    with pytest.raises(ParamValidationError):
        validated({**GOOD, **change})


def test_missing_keys_are_refused_by_the_params() -> None:
    with pytest.raises(ParamValidationError, match="sid"):
        validated({"gid": 1, "date_start": "2024-01-01", "date_end": "2024-01-02"})
    with pytest.raises(ParamValidationError):
        validated({})


def test_pusher_check_takes_values_from_params_and_keys_from_the_conf() -> None:
    params = validated(GOOD)
    assert checked_request(params, GOOD) == RunRequest(
        42, 7, dt.date(2024, 1, 1), dt.date(2024, 3, 31)
    )
    # A key no Param declares is only visible in the raw conf.
    with pytest.raises(InvalidRunConf, match="unknown conf key"):
        checked_request(params, {**GOOD, "gid_typo": 1})
    with pytest.raises(InvalidRunConf, match="is after"):
        checked_request({**params, "date_start": "2024-04-01"}, GOOD)


def test_main_etl_request_uses_the_gid_from_xcom() -> None:
    params = validated(GOOD)
    assert request_from(99, params) == RunRequest(99, 7, dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    with pytest.raises(InvalidRunConf, match="no global_id in XCom from pusher"):
        request_from(None, params)
