"""Everything the local run can be told, read once from the environment."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from rest_trigger_local import pg_root
from rest_trigger_local.secret_files import write_new_secret

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _int(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{name}={value!r} must not be negative")
    return number


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    state_dir: Path
    airflow_host: str
    airflow_port: int
    pg_port: int
    log_server_port: int
    warehouse_port: int
    warehouse_db: str
    warehouse_user: str
    warehouse_password: str
    admin_user: str
    admin_password: str
    caller_user: str
    caller_password: str
    demo_rows: int
    pg_user: str
    pg_fallback_dir: Path
    max_restarts: int
    restart_window: float

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        state = Path(env.get("REST_TRIGGER_STATE_DIR", PROJECT_DIR / ".local"))
        return cls(
            project_dir=PROJECT_DIR,
            state_dir=state.resolve(),
            airflow_host=env.get("AIRFLOW_HOST", "127.0.0.1"),
            airflow_port=_int(env, "AIRFLOW_PORT", 8080),
            pg_port=_int(env, "LOCAL_PG_PORT", 5433),
            # The scheduler serves task logs to the webserver on this port (Airflow's 8793).
            log_server_port=_int(env, "AIRFLOW_LOG_SERVER_PORT", 8793),
            warehouse_port=_int(env, "WAREHOUSE_PORT", 5439),
            warehouse_db=env.get("WAREHOUSE_DB", "dev"),
            # Local-only defaults, named in the README; never used for a real warehouse.
            warehouse_user=env.get("WAREHOUSE_USER", "warehouse"),
            warehouse_password=env.get("WAREHOUSE_PASSWORD", "warehouse"),
            admin_user=env.get("AIRFLOW_ADMIN_USER", "admin"),
            admin_password=env.get("AIRFLOW_ADMIN_PASSWORD", "admin"),
            # The account other systems call the API with (role RestTriggerCaller).
            caller_user=env.get("AIRFLOW_CALLER_USER", "caller"),
            caller_password=env.get("AIRFLOW_CALLER_PASSWORD", "caller"),
            demo_rows=_int(env, "DEMO_ROWS", 1000000),
            # As root, the embedded PostgreSQL runs as this user (created when missing), and
            # keeps what it cannot reach in the state folder under the fallback folder.
            pg_user=pg_root.check_user_name(
                env.get("REST_TRIGGER_PG_USER") or pg_root.DEFAULT_USER
            ),
            pg_fallback_dir=Path(
                env.get("REST_TRIGGER_PG_FALLBACK_DIR") or pg_root.DEFAULT_FALLBACK_DIR
            ),
            # A scheduler or webserver that exits is restarted, at most this often per window.
            max_restarts=_int(env, "REST_TRIGGER_MAX_RESTARTS", 5),
            restart_window=float(_int(env, "REST_TRIGGER_RESTART_WINDOW", 600)),
        )

    def shown_password(self, name: str) -> str:
        """A password as the banner may show it: only the documented local-only default
        appears; one set in the environment is named, never printed."""
        value, default, variable = {
            "admin": (self.admin_password, "admin", "AIRFLOW_ADMIN_PASSWORD"),
            "caller": (self.caller_password, "caller", "AIRFLOW_CALLER_PASSWORD"),
            "warehouse": (self.warehouse_password, "warehouse", "WAREHOUSE_PASSWORD"),
        }[name]
        return value if value == default else f"${variable}"

    @property
    def base_url(self) -> str:
        return f"http://{self.airflow_host}:{self.airflow_port}"

    @property
    def warehouse_conn_json(self) -> str:
        """The local ``redshift_default`` connection, in Airflow's JSON connection form."""
        return json.dumps(
            {
                "conn_type": "redshift",
                "host": "127.0.0.1",
                "port": self.warehouse_port,
                "schema": self.warehouse_db,
                "login": self.warehouse_user,
                "password": self.warehouse_password,
                # The local stand-in speaks no TLS; a real cluster keeps the driver's ssl=True.
                # application_name: without one, redshift_connector.connect() names the caller
                # by walking inspect.stack() (reads the source of every frame: ~30-60 ms per
                # connect inside an Airflow task). Set it on a real connection too.
                "extra": {"ssl": False, "application_name": "rest-trigger"},
            }
        )


def install_secrets(state_dir: Path) -> dict[str, str]:
    """Secrets generated once per install and kept in the (git-ignored) state folder."""
    path = state_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    values = {
        "fernet_key": Fernet.generate_key().decode(),
        "webserver_secret_key": secrets.token_hex(32),
        "metadb_password": secrets.token_urlsafe(18),
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    write_new_secret(path, json.dumps(values, indent=2))
    return values


def airflow_env(settings: Settings, secret_values: dict[str, str]) -> dict[str, str]:
    """The environment every local Airflow process gets, on top of the caller's."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(settings.state_dir / "airflow"),
            "AIRFLOW_CONFIG": str(settings.project_dir / "airflow.cfg"),
            "REST_TRIGGER_HOME": str(settings.project_dir),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://airflow:{secret_values['metadb_password']}"
                f"@127.0.0.1:{settings.pg_port}/airflow"
            ),
            "AIRFLOW__CORE__FERNET_KEY": env.get("AIRFLOW__CORE__FERNET_KEY")
            or secret_values["fernet_key"],
            "AIRFLOW__WEBSERVER__SECRET_KEY": env.get("AIRFLOW__WEBSERVER__SECRET_KEY")
            or secret_values["webserver_secret_key"],
            "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": settings.airflow_host,
            "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(settings.airflow_port),
            "AIRFLOW__WEBSERVER__BASE_URL": settings.base_url,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.log_server_port),
            # A connection already in the environment (a real Redshift) wins over the local one.
            "AIRFLOW_CONN_REDSHIFT_DEFAULT": env.get("AIRFLOW_CONN_REDSHIFT_DEFAULT")
            or settings.warehouse_conn_json,
            "PYTHONWARNINGS": env.get("PYTHONWARNINGS", "ignore::DeprecationWarning"),
        }
    )
    # Variables that win over everything above, as one JSON object. Unset for `make run`; the
    # tests use it to run Airflow with the environment docker-compose.yaml gives its containers.
    overrides = env.get("REST_TRIGGER_AIRFLOW_ENV")
    if overrides:
        values = json.loads(overrides)
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise ValueError("REST_TRIGGER_AIRFLOW_ENV must be a JSON object of strings")
        env.update(values)
    return env
