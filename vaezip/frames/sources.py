"""Where inputs come from: files, directories, standard input (the CLI), and PIL images,
NumPy arrays, paths and encoded image bytes (the Python API). Each becomes a Source with
the name it is stored under. Knows nothing of .vz files or models.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vaezip.errors import ImageError, UsageError
from vaezip.format.names import check_name

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm",
                  ".ppm", ".pbm", ".pnm", ".tga", ".ico"}
STDIO = "-"  # as an input or output: standard input / standard output


@dataclass(frozen=True)
class Source:
    """One input: where to read it, the name it is stored under, and how to call it."""

    path: Path | None  # None: standard input, or an in-memory object
    name: str  # stored name: the base name, or the path inside a directory that was walked
    label: str  # for messages
    content: object = field(default=None, repr=False)  # bytes, PIL image or NumPy array

    def read(self):
        """The input: its bytes, or the in-memory image it was given as."""
        if self.content is not None:
            return self.content
        if self.path is None:
            return sys.stdin.buffer.read()
        try:
            return self.path.read_bytes()
        except IsADirectoryError:
            raise ImageError(f"{self.label}: is a directory") from None
        except OSError as exc:
            raise ImageError(f"{self.label}: cannot read ({exc.strerror or exc})") from None

    def size(self, content=None) -> int:
        """Bytes in, for the summary: the file's (or bytes') length, a raw array's bytes."""
        content = self.read() if content is None else content
        if isinstance(content, bytes | bytearray | memoryview):
            return len(content)
        nbytes = getattr(content, "nbytes", None)
        if nbytes is not None:
            return int(nbytes)
        w, h = content.size  # a PIL image: its raw pixel bytes
        return w * h * len(content.getbands())


def collect_sources(inputs: list[str], suffixes: set[str] | None = None) -> list[Source]:
    """Expand files, directories (recursively, image files only) and '-' into sources."""
    return _unique(list(walk_sources(inputs, suffixes)))


def walk_sources(inputs: list[str], suffixes: set[str] | None = None) -> Iterator[Source]:
    """collect_sources, lazily: one directory's entries in memory at a time (for archives
    of any size). In the order of the full paths as strings. Names are unique within one
    input; the caller checks across inputs."""
    if not inputs:
        raise UsageError("no input given")
    if inputs.count(STDIO) > 1:
        raise UsageError("standard input ('-') can be given only once")
    suffixes = suffixes or IMAGE_SUFFIXES
    for arg in inputs:  # check them all before yielding anything
        if arg != STDIO and not Path(arg).exists():
            raise ImageError(f"{arg}: no such file or directory")
    for arg in inputs:
        if arg == STDIO:
            yield Source(None, "stdin", "<stdin>")
            continue
        path = Path(arg)
        if not path.is_dir():  # a file named on the command line is known by its base name
            yield Source(path, path.name, str(path))
            continue
        found = False
        for file in _walk(path, suffixes):
            found = True
            name = file.relative_to(path).as_posix()
            check_name(name, str(file))
            yield Source(file, name, str(file))
        if not found:
            kinds = "image" if suffixes is IMAGE_SUFFIXES else "/".join(sorted(suffixes))
            raise ImageError(f"{arg}: directory holds no {kinds} files")


def _walk(folder: Path, suffixes: set[str]) -> Iterator[Path]:
    """Files under folder with one of the suffixes, depth first. A directory sorts as its
    name plus '/', which gives the order of the full paths as strings (x.png before x/)."""
    try:
        entries = sorted(os.scandir(folder),
                         key=lambda e: e.name + "/" if e.is_dir() else e.name)
    except OSError as exc:
        raise ImageError(f"{folder}: cannot read ({exc.strerror or exc})") from None
    for entry in entries:
        if entry.is_dir():
            yield from _walk(Path(entry.path), suffixes)
        elif entry.is_file() and Path(entry.name).suffix.lower() in suffixes:
            yield Path(entry.path)


def _unique(sources: list[Source]) -> list[Source]:
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"two inputs would be stored as {dup!r}; encode them separately")
    for s in sources:
        check_name(s.name, s.label)
    return sources


def api_sources(images, single: bool) -> list[Source]:
    """The Python API's inputs: one image or an iterable of them, each a PIL image, a NumPy
    array, a path (str or os.PathLike) or the bytes of an encoded image file. In-memory
    images are named image.png, or image-00001.png etc. in a list."""
    items = [images] if single else list(images)
    sources = []
    for i, item in enumerate(items):
        default = "image.png" if single else f"image-{i:05d}.png"
        if isinstance(item, str | os.PathLike):
            path = Path(item)
            if not path.is_file():
                raise ImageError(f"{path}: no such file")
            sources.append(Source(path, path.name, str(path)))
        elif isinstance(item, bytes | bytearray | memoryview):
            sources.append(Source(None, default, f"<bytes {i}>", bytes(item)))
        elif hasattr(item, "__array_interface__") or hasattr(item, "getbands"):
            sources.append(Source(None, default, f"<image {i}>", item))
        else:
            raise TypeError(f"cannot compress a {type(item).__name__}: give PIL images, NumPy "
                            f"arrays, paths or image file bytes")
    return _unique(sources)
