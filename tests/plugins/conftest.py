"""The databases the login throttle's shared store is tested on: SQLite (a file, so that two
engines are two "processes" on one database) and a real PostgreSQL (the session's warehouse
server, as Airflow's metadata database is PostgreSQL in `make run` and compose)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_trigger_api.login_store import metadata
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

# A new engine (its own connection pool, as a worker process has) on the test's database.
EngineFactory = Callable[[], Any]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engines(request: pytest.FixtureRequest) -> Iterator[EngineFactory]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='rest-trigger-logins-')) / 'meta.db'}"
    else:
        warehouse = request.getfixturevalue("warehouse")
        url = (
            f"postgresql+psycopg2://{warehouse.user}:{warehouse.password}"
            f"@127.0.0.1:{warehouse.pg_port}/{warehouse.database}"
        )
    made: list[Any] = []

    def make() -> Any:
        engine = create_engine(url, poolclass=NullPool)
        made.append(engine)
        return engine

    # No tables from an earlier test (the warehouse server is the session's).
    metadata.drop_all(make())
    yield make
    metadata.drop_all(made[0])
    for engine in made:
        engine.dispose()
