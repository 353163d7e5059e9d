"""The data directory holds the secret key, the SQLite database, uploads and exports: only the account that runs
the app may read it. Called from settings.py at start-up (every process), so a directory or database made by an
older version, or by sqlite3 under a default umask (0644), is narrowed too."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def _narrow(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) & ~mode:
            path.chmod(mode)
    except OSError as error:  # not ours (a shared mount): say so rather than fail to start
        warnings.warn(f"could not restrict {path} to mode {mode:o}: {error}", stacklevel=3)


def private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _narrow(path, DIR_MODE)


def private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before sqlite3 would create it 0644 (its -wal and -shm files copy the
    database file's mode), or narrow an existing one."""
    if str(path) in ("", ":memory:") or str(path).startswith("file:"):
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, FILE_MODE))  # an empty file is an empty database
    except OSError:
        return
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists():
            _narrow(candidate, FILE_MODE)
