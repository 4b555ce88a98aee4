"""The compose checks' shared fixture: one `.env` as `make docker-env` writes it, per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.compose_config import make_env_file


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_env_file(tmp_path_factory.mktemp("compose-env"))
