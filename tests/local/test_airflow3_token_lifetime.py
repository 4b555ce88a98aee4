"""`make run AIRFLOW=3` issues API tokens for 30 minutes, not 3.3.2's day (rest_trigger_local/
settings.py says why). The test stacks set a lifetime of their own (tests/support/airflow_stack.py:
20 s, to see renewal), so this is checked on the environment the launcher builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rest_trigger_local.settings import (
    JWT_EXPIRATION_SECONDS,
    PROJECT_DIR,
    Settings,
    airflow_env,
)

SECRETS = {
    "fernet_key": "f",
    "webserver_secret_key": "w",
    "metadb_password": "p",
    "jwt_secret": "j",
}
SITE3 = next((PROJECT_DIR / ".venv-airflow3" / "lib").glob("python3*/site-packages"), None)


def test_api_tokens_last_30_minutes_unless_the_environment_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME", raising=False)
    settings = Settings.from_env({"REST_TRIGGER_STATE_DIR": str(tmp_path)})
    env = airflow_env(settings, SECRETS, 3)
    assert env["AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME"] == str(JWT_EXPIRATION_SECONDS) == "1800"
    assert "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME" not in airflow_env(settings, SECRETS, 2)
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME", "600")
    assert airflow_env(settings, SECRETS, 3)["AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME"] == "600"


@pytest.mark.skipif(SITE3 is None, reason="no .venv-airflow3 (make venv-airflow3)")
def test_the_option_is_airflow_3_3_2s_and_its_default_is_a_day() -> None:
    config = yaml.safe_load((SITE3 / "airflow" / "config_templates" / "config.yml").read_text())
    option = config["api_auth"]["options"]["jwt_expiration_time"]
    assert option["default"] == "86400", option
