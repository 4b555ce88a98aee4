"""The compose stack's generated secrets: written once by ``airflow-init`` into a named volume,
read by every service, so ``docker compose up`` needs no ``.env``.

``python -m deploy.compose.compose_secrets DIR`` creates whichever of the files below is
missing (mode 0600 from creation, owned by the user that runs it: airflow-init runs it as
AIRFLOW_UID) and leaves existing ones alone: a Fernet key that changed would make every stored
connection password unreadable. The Airflow services read them through Airflow's ``_CMD``
options (``cat DIR/fernet_key``); a value set in ``.env`` under the setting's own name wins,
because Airflow reads ``AIRFLOW__SECTION__KEY`` before ``AIRFLOW__SECTION__KEY_CMD``.

Files hold the value alone, with no newline: ``_CMD`` output is used as printed.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from deploy.secret_files import write_new_secret

REDIS_HOST = "redis:6379"
FLOWER_USER = "flower"


def _redis_password(directory: Path) -> str:
    return (directory / "redis_password").read_text()


# name -> how to make it; later entries may read earlier ones (the Redis password).
GENERATORS: dict[str, Callable[[Path], str]] = {
    "fernet_key": lambda _: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "webserver_secret_key": lambda _: secrets.token_hex(32),
    # URL-safe, so it goes into the broker URL as it is.
    "redis_password": lambda _: secrets.token_urlsafe(32),
    # Redis reads its password from this file (redis-server FILE), not from its command line.
    "redis.conf": lambda d: (
        "# Written by airflow-init (deploy.compose.compose_secrets)\n"
        f"requirepass {_redis_password(d)}\n"
        # A broker only: nothing to persist, and its volume is not writable by its user.
        'save ""\nappendonly no\n'
    ),
    "broker_url": lambda d: f"redis://:{_redis_password(d)}@{REDIS_HOST}/0",
    "flower_basic_auth": lambda _: f"{FLOWER_USER}:{secrets.token_urlsafe(18)}",
    # Airflow 3's [api_auth] jwt_secret (docker-compose.airflow3.yaml): signs the API's and the
    # tasks' execution-API tokens. Made for the 2.11 stack too (unused there), so switching
    # variants on one secrets volume finds it; the same generator as `make run AIRFLOW=3`'s.
    "jwt_secret": lambda _: secrets.token_urlsafe(48),
}


def ensure_secrets(directory: Path) -> list[str]:
    """Create the missing files; the names created, in order."""
    created = []
    for name, make in GENERATORS.items():
        path = directory / name
        if not path.exists():
            write_new_secret(path, make(directory))
            created.append(name)
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    created = ensure_secrets(args.directory)
    kept = [name for name in GENERATORS if name not in created]
    # Names only: the values never reach a log.
    sys.stdout.write(f"compose secrets in {args.directory}: created {created}, kept {kept}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
