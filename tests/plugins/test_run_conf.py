"""Unit tests of the checks a Param cannot express, run without a scheduler."""

from __future__ import annotations

import datetime as dt

import pytest

from rest_trigger_etl.names import DEMO_CONF
from rest_trigger_etl.run_conf import (
    MAX_RANGE_DAYS,
    InvalidRunConf,
    RunRequest,
    checked_request,
    parse_run_conf,
    request_from,
)

GOOD = DEMO_CONF


def test_valid_conf_parses() -> None:
    assert parse_run_conf(GOOD) == RunRequest(42, 7, dt.date(2024, 1, 1), dt.date(2024, 3, 31))


def test_whole_float_is_an_integer() -> None:
    assert parse_run_conf({**GOOD, "gid": 42.0}).gid == 42


def test_as_json_round_trips() -> None:
    assert parse_run_conf(GOOD).as_json() == GOOD


def test_single_day_range_is_allowed() -> None:
    request = parse_run_conf({**GOOD, "date_end": GOOD["date_start"]})
    assert request.date_start == request.date_end


def test_longest_range_is_allowed_and_one_more_day_is_not() -> None:
    start = dt.date(2024, 1, 1)
    last_ok = start + dt.timedelta(days=MAX_RANGE_DAYS - 1)
    assert parse_run_conf({**GOOD, "date_end": last_ok.isoformat()}).date_end == last_ok
    with pytest.raises(InvalidRunConf, match=f"{MAX_RANGE_DAYS + 1} days"):
        parse_run_conf({**GOOD, "date_end": (last_ok + dt.timedelta(days=1)).isoformat()})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"date_start": "2024-04-01"}, "date_start 2024-04-01 is after date_end 2024-03-31"),
        ({"extra": 1}, "unknown conf key(s) extra"),
        ({"gid": True}, "gid must be an integer"),
        ({"gid": "42"}, "gid must be an integer"),
        ({"sid": 7.5}, "sid must be an integer"),
        ({"sid": -1}, "sid must be between 0"),
        ({"gid": 2**63}, "gid must be between 0"),
        ({"date_end": "2024-02-30"}, "date_end is not a real date"),
        ({"date_end": "20240301"}, "date_end must be a date as YYYY-MM-DD"),
        ({"date_end": "2024-03-01T00:00:00"}, "date_end must be a date as YYYY-MM-DD"),
        ({"date_start": "2024-01-01'; DROP TABLE dim_account; --"}, "must be a date"),
    ],
)
def test_bad_conf_is_refused_with_one_line_reason(change, reason) -> None:
    with pytest.raises(InvalidRunConf) as excinfo:
        parse_run_conf({**GOOD, **change})
    message = str(excinfo.value)
    assert reason in message
    assert "\n" not in message


def test_missing_keys_are_named() -> None:
    with pytest.raises(InvalidRunConf, match="missing conf key\\(s\\): sid, date_end"):
        parse_run_conf({"gid": 1, "date_start": "2024-01-01"})


def test_empty_conf_is_refused() -> None:
    with pytest.raises(InvalidRunConf, match="missing"):
        parse_run_conf(None)


def test_pusher_check_takes_values_from_params_and_keys_from_the_conf() -> None:
    params = {**GOOD, "gid": 42}
    assert checked_request(params, {**GOOD}) == parse_run_conf(GOOD)
    # A key no Param declares is only visible in the raw conf.
    with pytest.raises(InvalidRunConf, match="unknown conf key"):
        checked_request(params, {**GOOD, "gid_typo": 1})
    with pytest.raises(InvalidRunConf, match="is after"):
        checked_request({**GOOD, "date_start": "2024-04-01"}, GOOD)


def test_main_etl_request_uses_the_gid_from_xcom() -> None:
    assert request_from(99, GOOD) == RunRequest(99, 7, dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    with pytest.raises(InvalidRunConf, match="no global_id"):
        request_from(None, GOOD)
