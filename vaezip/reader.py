"""One way to open a .vz file, whatever it holds and wherever it comes from: a path, bytes or
a binary stream; a single-image file, a packed file or a framed archive. The Python API
(`vaezip.open`, `vaezip.decompress`) and the Pillow plugin read through it.

A framed archive is opened lazily: its header and index now, its frames when a member in
them is asked for. `reader[i]` decodes one member (its frame's stream, and the decoder for
that image alone; a lossless or near-lossless frame whole, since its members share one
bits-back chain); iterating decodes a frame at a time and keeps at most two frames'
images, so memory stays flat over an archive of any size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from vaezip.errors import FormatError
from vaezip.format import payload
from vaezip.format.archive import ArchiveReader, open_vz
from vaezip.format.index import member_order
from vaezip.pipeline import DecodeOptions, ModelCache, decode_file

_CACHED_FRAMES = 2  # a frame and the guard's frame interleaved with it
_CHAINED_MODES = ("lossless", "near-lossless")


class Reader:
    """The members of a .vz file, decoded on demand: len(), names, reader[i] or
    reader["name"] (a PIL image), iteration over (name, image) pairs in order, and use as a
    context manager (an archive opened from a path keeps its file mapped until close)."""

    def __init__(self, source, *, sample: bool = False, seed: int = 0, native: bool = False,
                 label: str | None = None):
        """label: how errors name the file (default: its path, or <data>)."""
        self._options = DecodeOptions(sample=sample, seed=seed, native=native)
        self._models = ModelCache()
        self._archive: ArchiveReader | None = None
        self._single: payload.VzFile | None = None
        self._frames: dict[int, list] = {}  # decoded frames, oldest first
        path, data, self.label = _resolve(source)
        self.label = label or self.label
        opened = open_vz(path, data, self.label)
        if isinstance(opened, ArchiveReader):
            self._archive = opened
        else:
            self._single = opened
        members = self._archive_members() if self._archive else self._single_members()
        self.names = [name for name, _, _ in members]
        self._where = [(frame, k) for _, frame, k in members]
        self._index = {name: i for i, name in enumerate(self.names)}

    def _archive_members(self) -> list[tuple[str, int, int]]:
        """(name, frame, row in frame) in member order: a guard's frame lists its
        members' places among the frame before it."""
        parts = []
        for info in self._archive.frames:
            positions = (self._archive.frame(info.index).positions
                         if info.model is not None else None)
            parts.append((info.index, positions,
                          [(name, info.index, k) for k, name in enumerate(info.names)]))
        return member_order(parts)

    def _single_members(self) -> list[tuple[str, int, int]]:
        vz = self._single
        if not vz.packed and len(vz) == 1:  # a lone image is named after its file
            stem = "image" if self.label.startswith("<") else PurePosixPath(self.label).stem
            return [(stem + ".png", 0, 0)]
        return [(p.name, 0, k) for k, p in enumerate(vz.images)]

    @property
    def model(self) -> str:
        """The model the file names (an archive's own; a guard's frames name theirs)."""
        return self._archive.model if self._archive is not None else self._single.model

    @property
    def mode(self) -> str:
        return "framed archive" if self._archive is not None else self._single.mode

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key: int | str):
        """One member's image, by position or by stored name."""
        if isinstance(key, str):
            if key not in self._index:
                raise KeyError(f"{self.label}: no member named {key!r}")
            i = self._index[key]
        else:
            i = range(len(self))[key]  # IndexError past the end; negative counts back
        frame, row = self._where[i]
        if frame in self._frames:
            return self._frames[frame][row]
        vz = self._frame(frame)
        # A single file is decoded whole, once. So is a bits-back frame: its members come
        # off one chain, so one member costs the frame's decode, and the next is free.
        if self._archive is None or vz.mode in _CHAINED_MODES:
            return self._decoded(frame, vz)[row]
        ((_, image),) = decode_file(vz, self._frame_label(frame), self._options, self._models,
                                    only={vz.images[row].name})
        return image

    def __iter__(self) -> Iterator[tuple[str, object]]:
        for name, (frame, row) in zip(self.names, self._where, strict=True):
            images = self._frames.get(frame) or self._decoded(frame, self._frame(frame))
            yield name, images[row]

    def _frame(self, frame: int) -> payload.VzFile:
        return self._single if self._archive is None else self._archive.frame(frame)

    def _frame_label(self, frame: int) -> str:
        return self.label if self._archive is None else f"{self.label}: frame {frame}"

    def _decoded(self, frame: int, vz: payload.VzFile) -> list:
        images = decode_file(vz, self._frame_label(frame), self._options, self._models)
        self._frames[frame] = images
        while len(self._frames) > _CACHED_FRAMES:
            del self._frames[next(iter(self._frames))]
        return images

    def close(self) -> None:
        self._frames.clear()
        if self._archive is not None:
            self._archive.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _resolve(source) -> tuple[Path | None, bytes | None, str]:
    """(path, bytes, label) of a path, bytes-like or binary stream."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise FormatError(f"{path}: no such file")
        return path, None, str(path)
    if isinstance(source, bytes | bytearray | memoryview):
        return None, bytes(source), "<data>"
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise TypeError("vaezip.open needs a binary stream (open the file with 'rb')")
        return None, data, str(getattr(source, "name", "<stream>"))
    raise TypeError(f"cannot open a {type(source).__name__}: give a path, bytes or a binary "
                    f"stream")
