"""Atomic file writes: a reader never sees a half-written file, and nothing is
overwritten unless the caller says so."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from vaezip.errors import OutputExistsError


def check_writable(path: Path, force: bool) -> None:
    """Refuse early (before any work) when path exists and force is off."""
    if path.is_dir():
        raise OutputExistsError(f"{path}: is a directory; give a file name")
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: already exists; pass --force to overwrite it")


def atomic_write_bytes(path: Path | str, data: bytes, force: bool = False) -> Path:
    """Write data to path through a temp file in the same directory and a rename."""
    path = Path(path)
    check_writable(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if not force and path.exists():  # appeared while we were writing
            raise OutputExistsError(f"{path}: already exists; pass --force to overwrite it")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
