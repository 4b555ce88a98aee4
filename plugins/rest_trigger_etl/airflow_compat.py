"""Everything that differs between Airflow 2.11 and Airflow 3, in one place.

- the installed major version (``airflow_major()``), for the plugins and the local stack;
- names that moved between versions, resolved on first use (module ``__getattr__``) so that
  this module imports no Airflow until something asks for one: the DAG authoring names
  (``dag``, ``task``, ``Param``, ``AirflowFailException``: the Task SDK on 3.x), the auth
  managers' resource models (``DagAccessEntity``, ``DagDetails``) and FAB's permission names
  (``fab_permissions``, a module: deprecated in core on 3.x, where the FAB provider has it);
- each REST API version's paths (``API_V1``, ``API_V2``): prefix, health and its parts, login.

Importable without Airflow (the trigger client imports the API paths on a machine that only
calls Airflow). Nothing else in the project compares version strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module, metadata
from typing import Any


@cache
def airflow_major() -> int:
    """The major version of the Airflow installed beside this interpreter (2 or 3)."""
    return int(metadata.version("apache-airflow").split(".")[0])


def is_airflow_2() -> bool:
    return airflow_major() == 2


_RESOURCE_DETAILS = (
    "airflow.api_fastapi.auth.managers.models.resource_details",
    "airflow.auth.managers.models.resource_details",
)
# Name -> (module on Airflow 3, module on Airflow 2.11); the name is an attribute of that module,
# except where it names the module itself (MODULES).
MOVED = {
    "dag": ("airflow.sdk", "airflow.decorators"),
    "task": ("airflow.sdk", "airflow.decorators"),
    "Param": ("airflow.sdk.definitions.param", "airflow.models.param"),
    # Fails a task without a retry; 3.x deprecates the core name for the Task SDK's.
    "AirflowFailException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "DagAccessEntity": _RESOURCE_DETAILS,
    "DagDetails": _RESOURCE_DETAILS,
    "fab_permissions": (
        "airflow.providers.fab.www.security.permissions",
        "airflow.security.permissions",
    ),
}
MODULES = {"fab_permissions"}


def __getattr__(name: str) -> Any:
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    on_3, on_2 = MOVED[name]
    module = import_module(on_2 if is_airflow_2() else on_3)
    value = module if name in MODULES else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


@dataclass(frozen=True)
class ApiPaths:
    """Where one REST API version lives, and what must be healthy before runs can run."""

    name: str
    prefix: str
    health: str  # under the prefix; the answer has the same shape on both versions
    health_parts: tuple[str, ...]
    token: str | None  # where a password buys a bearer token; None: basic auth per request

    @property
    def health_url_path(self) -> str:
        return self.prefix + self.health


API_V1 = ApiPaths("v1", "/api/v1", "/health", ("metadatabase", "scheduler"), None)
# On 3.x the DAG processor is its own process, and it is what serves the DAG.
API_V2 = ApiPaths(
    "v2", "/api/v2", "/monitor/health", ("metadatabase", "scheduler", "dag_processor"),
    "/auth/token",
)  # fmt: skip


def api_paths(major: int | None = None) -> ApiPaths:
    """The REST API of an Airflow major version (default: the installed one)."""
    return API_V1 if (major or airflow_major()) == 2 else API_V2
