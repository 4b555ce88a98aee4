"""Files that hold secrets: created owner-only (0600) in the same call that creates them."""

from __future__ import annotations

import os
from pathlib import Path


def write_new_secret(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 and write ``text``. The mode is given to open(2) itself,
    so no other user can open the file between its creation and a later chmod (there is none),
    whatever the umask; O_EXCL refuses an existing file or symlink rather than write through
    it, so a secret never lands in a file someone else created or made readable."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
