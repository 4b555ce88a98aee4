"""The launcher's Airflow 3 switch without starting anything: the environment it gives Airflow 3,
the secrets it adds, the processes it runs and the banner it prints (the stack itself:
tests/e2e/test_airflow3_stack.py, `make test-airflow3`)."""

from __future__ import annotations

import configparser
import json
import stat
from pathlib import Path

import pytest
import yaml

from rest_trigger_local.launcher import Launcher
from rest_trigger_local.settings import (
    JWT_EXPIRATION_SECONDS,
    MOVED_IN_AIRFLOW3,
    PROJECT_DIR,
    Settings,
    airflow_env,
    install_secrets,
    metadata_database,
)

SECRETS = {
    "fernet_key": "f",
    "webserver_secret_key": "w",
    "metadb_password": "p",
    "jwt_secret": "j",
}
SITE3 = next((PROJECT_DIR / ".venv-airflow3" / "lib").glob("python3*/site-packages"), None)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env({"REST_TRIGGER_STATE_DIR": str(tmp_path), "AIRFLOW_PORT": "18080"})


def test_each_major_version_has_its_own_metadata_database(settings) -> None:
    assert metadata_database(2) == "airflow"
    assert metadata_database(3) == "airflow3"
    env2, env3 = airflow_env(settings, SECRETS, 2), airflow_env(settings, SECRETS, 3)
    assert env2["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(":5433/airflow")
    assert env3["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(":5433/airflow3")
    # The warehouse connection is the same for both.
    assert env2["AIRFLOW_CONN_REDSHIFT_DEFAULT"] == env3["AIRFLOW_CONN_REDSHIFT_DEFAULT"]


def test_airflow3_gets_what_airflow_cfg_says_for_2_only(settings) -> None:
    env = airflow_env(settings, SECRETS, 3)
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "j"
    assert env["AIRFLOW__API__SECRET_KEY"] == "w"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:18080"
    assert (env["AIRFLOW__API__HOST"], env["AIRFLOW__API__PORT"]) == ("127.0.0.1", "18080")
    assert (env["AIRFLOW__API__SERVER_TYPE"], env["AIRFLOW__API__WORKERS"]) == ("gunicorn", "2")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__FAB__CONFIG_FILE"] == str(PROJECT_DIR / "webserver_config.py")
    assert "{{ ti.run_id }}" in env["AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE"]
    # airflow.cfg's auth manager serves both versions: nothing overrides it.
    assert "AIRFLOW__CORE__AUTH_MANAGER" not in env
    # Options airflow.cfg keeps in their 2.x section, copied to their 3.x one.
    assert env["AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES"] == "1"
    assert env["AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"] == "60"
    assert env["AIRFLOW__FAB__SESSION_LIFETIME_MINUTES"] == "480"
    # Airflow 2.11 gets none of it.
    env2 = airflow_env(settings, SECRETS, 2)
    assert not {k for k in env2 if k.startswith(("AIRFLOW__API_AUTH__", "AIRFLOW__FAB__"))}


def test_every_moved_option_is_set_in_airflow_cfg() -> None:
    """Else the copy would silently be empty (an option renamed or removed from the file)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PROJECT_DIR / "airflow.cfg")
    assert all(parser.has_option(*old) for old in MOVED_IN_AIRFLOW3.values())


# Marked airflow3: `make test-airflow3` builds .venv-airflow3 and runs it; `make test` does neither.
@pytest.mark.airflow3
@pytest.mark.skipif(SITE3 is None, reason="no .venv-airflow3 (make venv-airflow3)")
def test_every_airflow3_option_set_exists_in_airflow_3(settings) -> None:
    """Each AIRFLOW__SECTION__OPTION the launcher sets for 3 is an option of Airflow 3.3.2's
    config.yml or of the FAB provider's (read from .venv-airflow3, not imported)."""
    import ast

    import yaml

    known = {
        (section, option)
        for section, spec in yaml.safe_load(
            (SITE3 / "airflow/config_templates/config.yml").read_text()
        ).items()
        for option in spec["options"]
    }
    fab_info = (SITE3 / "airflow/providers/fab/get_provider_info.py").read_text()
    fab_options = ast.literal_eval(fab_info.split("return ", 1)[1])["config"]["fab"]["options"]
    known |= {("fab", option) for option in fab_options}
    env2 = airflow_env(settings, SECRETS, 2)
    added = {k for k, v in airflow_env(settings, SECRETS, 3).items() if env2.get(k) != v}
    pairs = {tuple(k.lower().split("__")[1:3]) for k in added if k.startswith("AIRFLOW__")}
    assert pairs and pairs <= known, pairs - known


def test_install_secrets_adds_the_jwt_secret_to_an_older_file(tmp_path) -> None:
    old = {k: v for k, v in SECRETS.items() if k != "jwt_secret"}
    (tmp_path / "secrets.json").write_text(json.dumps(old))
    values = install_secrets(tmp_path)
    assert {k: values[k] for k in old} == old  # kept
    assert len(values["jwt_secret"]) >= 32
    assert json.loads((tmp_path / "secrets.json").read_text()) == values
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert install_secrets(tmp_path) == values  # generated once
    assert not list(Path(tmp_path).glob("*.new"))


def test_the_launcher_runs_api_server_scheduler_and_dag_processor_on_3(settings) -> None:
    launcher = Launcher(settings)
    assert [p[0] for p in launcher.processes()] == ["scheduler", "webserver"]  # .venv: 2.11
    launcher.major = 3
    assert launcher.processes() == [
        ("scheduler", "scheduler"),
        ("dag-processor", "dag-processor"),
        ("api-server", "api-server"),
    ]


def test_the_launcher_builds_the_execution_api_before_the_first_task_on_3(
    settings, monkeypatch
) -> None:
    asked: list[str] = []

    class Answer:
        def close(self) -> None:
            pass

    def urlopen(url: str, timeout: float) -> Answer:
        asked.append(url)
        return Answer()

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    launcher = Launcher(settings)
    launcher.major = 2
    launcher._warm_execution_api()
    assert asked == []  # 2.11 has no execution API
    launcher.major = 3
    launcher._warm_execution_api()
    assert asked == ["http://127.0.0.1:18080/execution/health"]


def test_the_airflow3_banner_shows_the_token_request_and_the_v2_trigger(settings) -> None:
    launcher = Launcher(settings)
    launcher.major, launcher.version = 3, "3.3.2"
    banner = launcher.banner()
    assert "Airflow 3.3.2 is up: http://127.0.0.1:18080" in banner
    assert "curl -s -X POST http://127.0.0.1:18080/auth/token" in banner
    assert """-d '{"username": "caller", "password": "caller"}'""" in banner
    assert (
        '-H "Authorization: Bearer $TOKEN" -X POST'
        " http://127.0.0.1:18080/api/v2/dags/rest-trigger/dagRuns" in banner
    )
    assert '"dag_run_id": "demo-1", "logical_date": null, "conf": {"gid": 42' in banner
    assert "-u caller:caller" not in banner


# `make run AIRFLOW=3` issues API tokens for 30 minutes, not 3.3.2's day (settings.py says why).
# The test stacks set a lifetime of their own (tests/support/airflow_stack.py: 20 s, to see
# renewal), so this is checked on the environment the launcher builds.
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
