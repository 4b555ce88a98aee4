"""Run ids: the one Airflow's API accepts, and a default derived from the run's parameters."""

from __future__ import annotations

import datetime as dt
import re

from rest_trigger_client.errors import InvalidInput
from rest_trigger_client.results import RunConf

# What Airflow 2.11's API accepts without a 500 (see the project notes).
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.~:+-]+$")
MAX_RUN_ID_LENGTH = 250  # dag_run.run_id is VARCHAR(250)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:+-]")


def default_run_id(conf: RunConf, now: dt.datetime | None = None) -> str:
    """``api__gid42_sid7_2024-01-01_2024-03-31__20261124T075116.123456Z``: readable in the UI,
    unique per call (microseconds), and valid for the API."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
    derived = f"api__gid{conf.gid}_sid{conf.sid}_{conf.date_start}_{conf.date_end}__{stamp}"
    # A malformed date is Airflow's to refuse (with its reason), not the run id's.
    return _UNSAFE.sub("_", derived)[-MAX_RUN_ID_LENGTH:]


def check_run_id(run_id: str) -> str:
    if not RUN_ID_PATTERN.match(run_id) or len(run_id) > MAX_RUN_ID_LENGTH:
        raise InvalidInput(
            f"invalid run id {run_id!r}: use 1-{MAX_RUN_ID_LENGTH} characters from "
            "A-Z a-z 0-9 _ . ~ : + -"
        )
    return run_id
