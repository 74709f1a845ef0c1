"""Atomic file writes: a reader never sees a half-written file, and nothing is
overwritten unless the caller says so."""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

from vaezip.errors import OutputExistsError

_counter = itertools.count()


def check_writable(path: Path, force: bool) -> None:
    """Refuse early (before any work) when path exists and force is off."""
    if path.is_dir():
        raise OutputExistsError(f"{path}: is a directory; give a file name")
    if path.exists() and not force:
        raise OutputExistsError(
            f"{path}: already exists; pass --force to overwrite it, or -o to write elsewhere"
        )


def atomic_write_bytes(path: Path | str, data: bytes, force: bool = False,
                       durable: bool = False) -> Path:
    """Write data to path through a temp file in the same directory and a rename.

    The rename makes the file appear whole or not at all (Ctrl-C, a crash, a full disk
    leave no partial file). durable=True also fsyncs before the rename, so the file
    survives a power cut: worth it for checkpoints and models, not for 10,000 outputs.
    """
    path = Path(path)
    check_writable(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(_counter)}.tmp")
    try:
        # O_EXCL: never follow or reuse someone else's file; 0o666 minus the umask, as open().
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
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
