"""Atomic file writes: a reader never sees a half-written file, and nothing is
overwritten unless the caller says so."""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

from vaezip.errors import OutputError, OutputExistsError

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
    """Write data to path through a temp file in the same directory, then move it in place
    (atomic_writer). durable=True also fsyncs first, so the file survives a power cut:
    worth it for checkpoints and models, not for 10,000 small outputs."""
    with atomic_writer(str(path), force) as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


@contextlib.contextmanager
def cannot_write(path: Path):
    """An OSError while writing path becomes one line naming path (not a temp file) and
    the reason: the user's problem to fix, not vaezip's."""
    try:
        yield
    except (IsADirectoryError, OutputExistsError):
        raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def write_output(target: str, data: bytes, force: bool) -> None:
    """Write one output: a file, atomically (see atomic_write_bytes), or '-' for stdout."""
    import sys

    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic_write_bytes(Path(target), data, force=force)


@contextlib.contextmanager
def atomic_writer(target: str, force: bool):
    """A binary file to write into: on success it becomes target whole, or goes to stdout
    for '-'; on any error (Ctrl-C, a crash, a full disk) nothing is left behind.

    The data go to a temp file in the same directory, which then moves into place.
    Without force the move is a hard link, which fails if the name exists, so even a file
    that appears meanwhile is never overwritten. Few system calls: this runs once per
    output file (the directory is made only when the first open finds it missing).
    """
    import sys

    if target == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    if not force and os.path.lexists(path):
        check_writable(path, force)  # raises with the right message
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(_counter)}.tmp")
    with cannot_write(path):
        try:
            handle = open(tmp, "xb")  # noqa: SIM115 - closed below; x: never reuse a file
        except FileNotFoundError:  # the first file in a new directory
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(tmp, "xb")  # noqa: SIM115
    try:
        with cannot_write(path), handle:
            yield handle
        with cannot_write(path):
            if force:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    check_writable(path, force)
                    raise
                os.unlink(tmp)
    except IsADirectoryError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        check_writable(path, force)  # a directory where the file should go
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
