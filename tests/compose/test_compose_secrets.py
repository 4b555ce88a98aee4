"""The compose stack's secret generator (deploy.compose.compose_secrets) and the healthcheck's
reading of Airflow settings, without containers (the compose test covers them inside)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deploy.compose import compose_secrets, healthcheck


def test_secrets_created_owner_only_once_and_consistent(tmp_path: Path) -> None:
    created = compose_secrets.ensure_secrets(tmp_path)
    assert created == list(compose_secrets.GENERATORS)
    values = {name: (tmp_path / name).read_text() for name in created}
    for name in created:
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    assert all(not v.endswith("\n") for k, v in values.items() if k != "redis.conf")
    Fernet(values["fernet_key"].encode())
    password = values["redis_password"]
    assert f"requirepass {password}\n" in values["redis.conf"]
    assert values["broker_url"] == f"redis://:{password}@redis:6379/0"
    user, _, secret = values["flower_basic_auth"].partition(":")
    assert user == "flower" and len(secret) >= 20
    # Kept: a second run creates nothing and changes nothing.
    assert compose_secrets.ensure_secrets(tmp_path) == []
    assert {name: (tmp_path / name).read_text() for name in created} == values
    # Another volume: other values.
    (tmp_path / "other").mkdir()
    compose_secrets.ensure_secrets(tmp_path / "other")
    assert (tmp_path / "other" / "fernet_key").read_text() != values["fernet_key"]


def test_a_missing_file_is_made_from_the_kept_password(tmp_path: Path) -> None:
    compose_secrets.ensure_secrets(tmp_path)
    (tmp_path / "broker_url").unlink()
    assert compose_secrets.ensure_secrets(tmp_path) == ["broker_url"]
    password = (tmp_path / "redis_password").read_text()
    assert (tmp_path / "broker_url").read_text().startswith(f"redis://:{password}@")


def test_airflow_setting_prefers_the_variable_then_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "url").write_text("redis://:from-file@redis:6379/0")
    monkeypatch.delenv("AIRFLOW__CELERY__BROKER_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL_CMD", f"cat {tmp_path / 'url'}")
    assert healthcheck.airflow_setting("AIRFLOW__CELERY__BROKER_URL") == (
        "redis://:from-file@redis:6379/0"
    )
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://other:6379/0")
    assert healthcheck.airflow_setting("AIRFLOW__CELERY__BROKER_URL") == "redis://other:6379/0"
