"""Running the embedded PostgreSQL as root: the unprivileged user it runs as (created when
missing), and folders that user can reach, found without changing any folder the project did
not create.

PostgreSQL refuses to run as root. pgserver's own helper for this adds read and execute for
group and others to every folder above the data directory (``/root`` included); this module
never does. Where the user cannot reach the state folder or the venv's PostgreSQL binaries, it
keeps them in a folder it creates for the purpose (``REST_TRIGGER_PG_FALLBACK_DIR``, default
/var/lib/rest-trigger), or refuses with a message that says what to change.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT_USER = "pgserver"  # the pgserver wheel's own convention
DEFAULT_FALLBACK_DIR = Path("/var/lib/rest-trigger")
# useradd's portable subset: lowercase, digits, _ and -, not starting with a digit or -.
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class RootSetupError(RuntimeError):
    """The server cannot run as its user here; the message says why and what to change."""


def check_user_name(name: str) -> str:
    if not _USER_NAME.match(name):
        raise ValueError(
            f"REST_TRIGGER_PG_USER={name!r} is not a valid user name"
            " (lowercase letters, digits, _ and -, at most 32, not starting with a digit or -)"
        )
    return name


def ensure_user(name: str) -> pwd.struct_passwd:
    """The user's entry, after creating it as a system user without a home or a login shell."""
    check_user_name(name)
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    if shutil.which("useradd") is None:
        raise RootSetupError(f"user {name!r} does not exist and there is no useradd to create it")
    result = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", "--comment", "rest-trigger embedded PostgreSQL", name],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Another launcher may have created it meanwhile: then it exists, which is all we need.
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RootSetupError(f"could not create user {name!r}: {result.stderr.strip()}") from None


def can_reach(user: str, path: Path) -> bool:
    """Whether ``user`` can search (a folder) or execute (a file) ``path``, every folder above
    it included: asked of the kernel, as that user."""
    result = subprocess.run(
        ["test", "-x", str(path)], user=user, capture_output=True, timeout=30, cwd="/"
    )
    return result.returncode == 0


def make_folder(path: Path) -> None:
    """Create ``path`` and any missing parent as root-owned 0755 folders. Folders that exist
    already are left exactly as they are."""
    missing = []
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by a launcher beside us
            folder.mkdir()
            folder.chmod(0o755)  # a folder this project created: readable, so the user passes


def reachable_binaries(user: str, installed: Path, fallback: Path) -> Path:
    """The bin folder of PostgreSQL the user can execute: the venv's, or a copy under
    ``fallback`` (made once per installed build) when the venv lies in a private folder."""
    binaries = installed
    if not can_reach(user, installed / "postgres"):
        binaries = _copy_of_binaries(installed, fallback)
        if not can_reach(user, binaries / "postgres"):
            raise RootSetupError(
                f"user {user!r} cannot execute {installed / 'postgres'} (a folder above it is"
                f" private) nor the copy in {binaries}; make {fallback} reachable, or set"
                " REST_TRIGGER_PG_FALLBACK_DIR to a folder it can reach"
            )
    # initdb and pg_ctl load the wheel's libpq: a copy that lost it fails here, clearly.
    for name in ("postgres", "initdb", "pg_ctl"):
        result = subprocess.run(
            [str(binaries / name), "--version"],
            user=user, capture_output=True, text=True, timeout=30, cwd="/",
        )  # fmt: skip
        if result.returncode != 0:
            raise RootSetupError(
                f"user {user!r} cannot run {binaries / name}: {result.stderr.strip()}"
            )
    return binaries


def _copy_of_binaries(installed: Path, fallback: Path) -> Path:
    """Copy the wheel's PostgreSQL (site-packages/pgserver/pginstall) and the libraries its
    binaries load through a relative RPATH ($ORIGIN/../../../pgserver.libs), keeping that
    layout, under ``fallback``; once per installed build. Returns the copy's bin folder."""
    pginstall = installed.parent
    package = pginstall.parent  # site-packages/pgserver
    key = hashlib.sha256(str(pginstall).encode()).hexdigest()[:12]
    target = fallback / f"pgserver-{key}"
    if not target.exists():
        make_folder(fallback)
        staging = Path(tempfile.mkdtemp(prefix=".pgserver-", dir=fallback))
        try:
            tree = staging / "tree"
            shutil.copytree(pginstall, tree / package.name / pginstall.name, symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.exists():
                shutil.copytree(libs, tree / libs.name, symlinks=True)
            for folder in (tree, tree / package.name):  # made here by copytree: open them
                folder.chmod(0o755)
            with contextlib.suppress(OSError):  # a launcher beside us was faster: use its copy
                tree.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target / package.name / pginstall.name / installed.name


def relocated_data_dir(requested: Path, fallback: Path) -> Path:
    """Where the cluster lives when the user cannot reach ``requested``: one folder per
    requested path, so a second start finds it again."""
    key = hashlib.sha256(str(requested.resolve()).encode()).hexdigest()[:16]
    return fallback / "clusters" / key / requested.name


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give a cluster folder this project created to the server's user (a user removed and
    re-created gets a new uid, and PostgreSQL insists on owning its data)."""
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
