"""The run configuration callers POST, its JSON-schema ``Param`` specs, and the checks a Param
cannot express (date order, range length, unknown keys).

Each value is validated once, by the Params (types, ranges, required keys, real dates); nothing
here checks them again. ``checked_request`` (``pusher``) adds only the cross-field checks;
``request_from`` (``main_etl``) only converts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

MAX_RANGE_DAYS = 366
# Redshift BIGINT. Keeps huge JSON integers from reaching the driver.
MAX_ID = 2**63 - 1

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


def request_from(gid: Any, params: Mapping[str, Any]) -> RunRequest:
    """A RunRequest from values Airflow's Params have already validated: plain conversion, no
    check. A run exists only if its conf passed the Params (else HTTP 400 at POST), so
    ``date_start`` here is a real date as ``YYYY-MM-DD`` and ``sid`` an integer in range (JSON's
    ``7.0`` passes "integer", hence ``int``). ``gid`` comes apart: ``main_etl``'s is the one
    ``pusher`` handed over XCom, and a missing hand-over is the one thing refused here."""
    if gid is None:
        raise InvalidRunConf("no global_id in XCom from pusher")
    return RunRequest(
        gid=int(gid),
        sid=int(params["sid"]),
        date_start=dt.date.fromisoformat(params["date_start"]),
        date_end=dt.date.fromisoformat(params["date_end"]),
    )


def checked_request(params: Mapping[str, Any], conf: Mapping[str, Any] | None) -> RunRequest:
    """``pusher``'s check of a run, the only one: what no Param can express. The keys as the
    caller sent them (no Param can refuse a key that no Param declares), the values as the
    Params validated them, then the date order and the range's length. Raises InvalidRunConf
    with a one-line reason."""
    unknown = sorted(set(conf or {}) - set(PARAM_SPECS))
    if unknown:
        raise InvalidRunConf(
            f"unknown conf key(s) {', '.join(unknown)}; accepted: {', '.join(PARAM_SPECS)}"
        )
    request = request_from(params["gid"], params)
    if request.date_start > request.date_end:
        raise InvalidRunConf(
            f"date_start {request.date_start} is after date_end {request.date_end}"
        )
    days = (request.date_end - request.date_start).days + 1
    if days > MAX_RANGE_DAYS:
        raise InvalidRunConf(f"date range is {days} days; at most {MAX_RANGE_DAYS} are allowed")
    return request
