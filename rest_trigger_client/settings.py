"""Where Airflow is, which REST API version it speaks and who the client logs in as: flags first,
then the environment, then the defaults of `make run` (a local stack; its caller/caller login is
local-only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_URL = "http://127.0.0.1:8080"
# `make run`'s local-only caller account (role RestTriggerCaller: may trigger and read
# rest-trigger, nothing else). Any real deployment sets AIRFLOW_USERNAME/AIRFLOW_PASSWORD.
DEFAULT_USERNAME = "caller"
DEFAULT_PASSWORD = "caller"
# "v1" (Airflow 2), "v2" (Airflow 3), or "auto": ask the server once (api_version.py).
DEFAULT_API_VERSION = "auto"


@dataclass(frozen=True)
class ClientSettings:
    base_url: str = DEFAULT_URL
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    api_version: str = DEFAULT_API_VERSION

    @classmethod
    def resolve(
        cls,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        api_version: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ClientSettings:
        env = os.environ if env is None else env

        def pick(flag: str | None, name: str, default: str) -> str:
            return flag if flag is not None else env.get(name, default)

        return cls(
            base_url=pick(base_url, "AIRFLOW_URL", DEFAULT_URL).rstrip("/") or DEFAULT_URL,
            username=pick(username, "AIRFLOW_USERNAME", DEFAULT_USERNAME),
            password=pick(password, "AIRFLOW_PASSWORD", DEFAULT_PASSWORD),
            api_version=pick(api_version, "AIRFLOW_API_VERSION", DEFAULT_API_VERSION),
        )
