"""Everything the local run can be told, read once from the environment, and the environment every
local Airflow process gets from it.

A little over 250 lines because that environment is built from the settings, the generated
secrets and the installed Airflow's version together (airflow_env, airflow3_env); split, each
part would import the others.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from deploy.secret_files import write_new_secret
from rest_trigger_etl.airflow_compat import airflow_major
from rest_trigger_local import pg_root
from warehouse_standin.connection import connection_json

PROJECT_DIR = Path(__file__).resolve().parents[1]


# The major version of the Airflow installed beside this interpreter (2 or 3), read from the
# package metadata: importing airflow would initialise its configuration and ORM.
installed_airflow_major = airflow_major


def metadata_database(major: int) -> str:
    """Each Airflow major version keeps its own metadata database in the same PostgreSQL, so
    switching between `make run` and `make run AIRFLOW=3` never migrates one version's schema
    with the other's code (Airflow 3's migrations are one-way). The warehouse is shared."""
    return "airflow" if major < 3 else f"airflow{major}"


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
        return connection_json(
            "127.0.0.1", self.warehouse_port, self.warehouse_db, self.warehouse_user,
            self.warehouse_password,
        )  # fmt: skip


def install_secrets(state_dir: Path) -> dict[str, str]:
    """Secrets generated once per install and kept in the (git-ignored) state folder. A secret
    added since the file was written (``jwt_secret``, Airflow 3's token key) is generated and
    added then; the others keep their values."""
    path = state_dir / "secrets.json"
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    generators = {
        "fernet_key": _fernet_key,
        "webserver_secret_key": lambda: secrets.token_hex(32),
        "metadb_password": lambda: secrets.token_urlsafe(18),
        "jwt_secret": lambda: secrets.token_urlsafe(48),
    }
    missing = [name for name in generators if name not in values]
    if not missing:
        return values
    for name in missing:
        values[name] = generators[name]()
    state_dir.mkdir(parents=True, exist_ok=True)
    # Written beside it, then renamed over it: the file is never half-written or world-readable.
    new = path.with_name(path.name + ".new")
    new.unlink(missing_ok=True)
    write_new_secret(new, json.dumps(values, indent=2))
    new.replace(path)
    return values


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# airflow.cfg's options that Airflow 3 reads from another section, as `airflow config lint`
# (3.3.2) lists them and without a fallback to the old place: (new section, option) -> (old
# section, option). Copied from airflow.cfg into the environment, so the file stays the one place
# they are set. The lint's other findings need nothing: [webserver] web_server_host, _port,
# workers, expose_config, secret_key, base_url are still read from there (3.3.2's
# deprecated_options) or set below; [api] auth_backends belongs to 2.11's /api/v1 (3.x's
# [fab] auth_backends is FAB's own Flask API, left at its default); x_frame_enabled,
# warn_deployment_exposure, enable_xcom_pickling (3.x never pickles XCom) and
# load_default_connections are gone, and so are [scheduler] standalone_dag_processor (always
# standalone) and schedule_after_task_execution (no mini scheduler): 3.x ignores them silently.
MOVED_IN_AIRFLOW3 = {
    ("dag_processor", "parsing_processes"): ("scheduler", "parsing_processes"),
    ("dag_processor", "min_file_process_interval"): ("scheduler", "min_file_process_interval"),
    ("fab", "session_lifetime_minutes"): ("webserver", "session_lifetime_minutes"),
    ("fab", "cookie_secure"): ("webserver", "cookie_secure"),
    ("fab", "cookie_samesite"): ("webserver", "cookie_samesite"),
}


def moved_options(config_file: Path) -> dict[str, str]:
    """MOVED_IN_AIRFLOW3's options as airflow.cfg sets them, as environment variables."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config_file)
    return {
        f"AIRFLOW__{new[0].upper()}__{new[1].upper()}": parser.get(*old)
        for new, old in MOVED_IN_AIRFLOW3.items()
        if parser.has_option(*old)
    }


# Airflow 3's API token lifetime here (airflow3_env says why); docker-compose.airflow3.yaml sets
# its own.
JWT_EXPIRATION_SECONDS = 30 * 60
# Airflow 3's api-server workers here (airflow3_env says why).
API_SERVER_WORKERS = 2


def airflow3_env(settings: Settings, secret_values: dict[str, str]) -> dict[str, str]:
    """What Airflow 3 needs that airflow.cfg (2.x-shaped, shared with the compose stack) does
    not say, or says for 2.11 only; these variables win over the file. Each option checked in
    Airflow 3.3.2's config.yml (or the FAB provider's, for [fab]). airflow.cfg's auth
    manager (rest_trigger_internals.auth_manager, a FabAuthManager) serves both versions: on 3
    it keeps the same accounts and roles and issues the API's JWTs at POST /auth/token."""
    base = settings.base_url
    env = os.environ
    return {
        **moved_options(settings.project_dir / "airflow.cfg"),
        # Signs the API's and the task execution API's tokens; must be the same in every
        # process (api-server, scheduler), so it is generated once like the other secrets.
        "AIRFLOW__API_AUTH__JWT_SECRET": env.get("AIRFLOW__API_AUTH__JWT_SECRET")
        or secret_values["jwt_secret"],
        # The API tokens POST /auth/token issues last 30 minutes, not 3.3.2's default of 24 h
        # ([api_auth] jwt_expiration_time): a bearer token that leaks (a log, a proxy, a
        # shell history) is good until its exp, so for half an hour instead of a day. The
        # callers are machines: the trigger client (rest_trigger_client/auth.py TokenAuth)
        # logs in again 30 s before exp, one password check per half hour per caller, which
        # the login throttle lets through (a known login). airflowctl's tokens
        # (/auth/token/cli) keep [api_auth] jwt_cli_expiration_time (1 h).
        "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": env.get("AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME")
        or str(JWT_EXPIRATION_SECONDS),
        # 3.x reads [api] where 2.11 read [webserver]: the Flask session key of FAB's pages,
        # the api-server's address, and the URL it is reached at.
        "AIRFLOW__API__SECRET_KEY": env.get("AIRFLOW__API__SECRET_KEY")
        or secret_values["webserver_secret_key"],
        "AIRFLOW__API__HOST": settings.airflow_host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": base,
        # Two api-server workers under gunicorn, forked from one process that loaded the app
        # (3.3.2's [api] server_type = gunicorn; gunicorn is in requirements-airflow3.txt).
        # One worker serves callers and the tasks' execution API on one GIL, so a burst's
        # POSTs queue behind each other and behind the tasks' calls (py-spy: 20 ms sampled per
        # POST in trigger_dag_run, docs/results/2026-12-02-profile-airflow3-burst-b6ff6dd.md);
        # two use both cores (docs/benchmarks.md has the figures).
        # Under uvicorn each extra worker would be a fresh interpreter importing Airflow,
        # FastAPI and FAB again; gunicorn forks them after the import. 3.3.2's default is 1.
        "AIRFLOW__API__SERVER_TYPE": env.get("AIRFLOW__API__SERVER_TYPE") or "gunicorn",
        "AIRFLOW__API__WORKERS": env.get("AIRFLOW__API__WORKERS") or str(API_SERVER_WORKERS),
        # Task processes report to the api-server's execution API; the default assumes :8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        # airflow.cfg's str.format log file name (no Jinja, for 2.11's speed) crashes 3.3.2's
        # scheduler: its str.format renderer calls logical_date.isoformat(), and an API-created
        # run has no logical date (seen: AttributeError in _run_scheduler_loop, the scheduler
        # restarted, the run never started); it passes no run_id either. The same layout in
        # Jinja, as 3.3.2's default writes it (no map_index: rest-trigger maps no task).
        "AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE": "dag_id={{ ti.dag_id }}/run_id={{ ti.run_id }}"
        "/task_id={{ ti.task_id }}/attempt={{ try_number|default(ti.try_number) }}.log",
        # FAB's Flask settings file moved from [webserver] config_file to [fab] config_file.
        "AIRFLOW__FAB__CONFIG_FILE": str(settings.project_dir / "webserver_config.py"),
    }


def airflow_env(
    settings: Settings, secret_values: dict[str, str], major: int | None = None
) -> dict[str, str]:
    """The environment every local Airflow process gets, on top of the caller's. ``major``:
    the Airflow major version it is for (default: the one installed beside this interpreter)."""
    major = installed_airflow_major() if major is None else major
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(settings.state_dir / "airflow"),
            "AIRFLOW_CONFIG": str(settings.project_dir / "airflow.cfg"),
            "REST_TRIGGER_HOME": str(settings.project_dir),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://airflow:{secret_values['metadb_password']}"
                f"@127.0.0.1:{settings.pg_port}/{metadata_database(major)}"
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
    if major >= 3:
        env.update(airflow3_env(settings, secret_values))
    # Variables that win over everything above, as one JSON object. Unset for `make run`; the
    # tests use it to run Airflow with the environment docker-compose.yaml gives its containers.
    overrides = env.get("REST_TRIGGER_AIRFLOW_ENV")
    if overrides:
        values = json.loads(overrides)
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise ValueError("REST_TRIGGER_AIRFLOW_ENV must be a JSON object of strings")
        env.update(values)
    return env
