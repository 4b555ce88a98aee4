"""The run configuration callers POST, its JSON-schema ``Param`` specs, and the checks a Param
cannot express (date order, range length, unknown keys)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

MAX_RANGE_DAYS = 366
# Redshift BIGINT. Keeps huge JSON integers from reaching the driver.
MAX_ID = 2**63 - 1
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The one definition of what the API accepts; the DAG turns each entry into a typed Param,
# so a wrong type, a missing key or an impossible date is refused with HTTP 400 at POST time.
PARAM_SPECS: dict[str, dict[str, Any]] = {
    "gid": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_ID,
        "title": "Global id",
        "description": "dim_account.global_id whose accounts' activity is counted.",
    },
    "sid": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_ID,
        "title": "Site id",
        "description": "fact_user_activity.dim_site_id to count activity for.",
    },
    "date_start": {
        "type": "string",
        "format": "date",
        "title": "First day",
        "description": "First activity_date counted, ISO 8601 (YYYY-MM-DD), inclusive.",
    },
    "date_end": {
        "type": "string",
        "format": "date",
        "title": "Last day",
        "description": (
            f"Last activity_date counted, ISO 8601 (YYYY-MM-DD), inclusive; at most "
            f"{MAX_RANGE_DAYS} days including date_start."
        ),
    },
}


class InvalidRunConf(ValueError):
    """The run's conf cannot be processed; the message is one line, meant for the caller."""


@dataclass(frozen=True)
class RunRequest:
    gid: int
    sid: int
    date_start: dt.date
    date_end: dt.date

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}


def _integer(name: str, value: Any) -> int:
    # JSON has one number type: 7.0 passes JSON-schema "integer"; True must not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRunConf(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise InvalidRunConf(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if not 0 <= number <= MAX_ID:
        raise InvalidRunConf(f"{name} must be between 0 and {MAX_ID}, got {number}")
    return number


def _date(name: str, value: Any) -> dt.date:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise InvalidRunConf(f"{name} must be a date as YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRunConf(f"{name} is not a real date: {value!r}") from None


def parse_run_conf(conf: Mapping[str, Any] | None) -> RunRequest:
    """Validate a run's conf completely; raise InvalidRunConf with a one-line reason."""
    conf = dict(conf or {})
    unknown = sorted(set(conf) - set(PARAM_SPECS))
    if unknown:
        raise InvalidRunConf(
            f"unknown conf key(s) {', '.join(unknown)}; accepted: {', '.join(PARAM_SPECS)}"
        )
    missing = [name for name in PARAM_SPECS if name not in conf]
    if missing:
        raise InvalidRunConf(f"missing conf key(s): {', '.join(missing)}")
    request = RunRequest(
        gid=_integer("gid", conf["gid"]),
        sid=_integer("sid", conf["sid"]),
        date_start=_date("date_start", conf["date_start"]),
        date_end=_date("date_end", conf["date_end"]),
    )
    if request.date_start > request.date_end:
        raise InvalidRunConf(
            f"date_start {request.date_start} is after date_end {request.date_end}"
        )
    days = (request.date_end - request.date_start).days + 1
    if days > MAX_RANGE_DAYS:
        raise InvalidRunConf(f"date range is {days} days; at most {MAX_RANGE_DAYS} are allowed")
    return request


def checked_request(params: Mapping[str, Any], conf: Mapping[str, Any] | None) -> RunRequest:
    """``pusher``'s check of a run: the values as Airflow's Params validated them, the keys as
    the caller sent them (no Param can refuse a key that no Param declares), then every check a
    Param cannot express. Raises InvalidRunConf with a one-line reason."""
    values = {name: params[name] for name in PARAM_SPECS if name in params}
    extra = {key: value for key, value in (conf or {}).items() if key not in PARAM_SPECS}
    return parse_run_conf({**extra, **values})


def request_from(gid: Any, params: Mapping[str, Any]) -> RunRequest:
    """``main_etl``'s request: ``gid`` as ``pusher`` handed it over XCom, the other values from
    the validated Params. ``pusher`` has already refused a bad run, so this only converts."""
    if gid is None:
        raise InvalidRunConf("no global_id in XCom from pusher")
    return RunRequest(
        gid=_integer("gid", gid),
        sid=_integer("sid", params["sid"]),
        date_start=_date("date_start", params["date_start"]),
        date_end=_date("date_end", params["date_end"]),
    )
