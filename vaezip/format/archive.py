"""Framed .vz archives (format 10; 5 and 9 before the compact index): many images in
independent frames.

An archive is a safetensors file with no metadata block (as in the coded single files,
a digit's code is smaller than one). Its tensors, all uint8 and one-dimensional, are:

  0, 1, 2, ...              one per frame: a coded payload (payload.coded_payload,
                            version 10; 5 in archives before it) of up to FRAME_IMAGES
                            images, with its own stream and its own CRC-32 over the
                            model's hash and its bytes
  3:mnist-vae-lossless-lite (version 9) a frame coded with the model it names, not the
                            archive's: the identity guard's near-lossless digits (codecs/guard.py).
                            Its payload may list where its members sit among those of the
                            frame before it (merge_listing), so members keep input order
  the model's name          the index: CRC-32 of the rest, then raw LZMA2 of the members'
                            names in UTF-8, one per line, with an empty line between frames
                            (names hold no control characters, so this is unambiguous).
                            Compact (when any frame is version 10): a name that follows
                            the one before it in a numbered series (next_name) is
                            written as the single character SUCCESSOR

Two or more tensors tell it from a single file (one tensor, named after the model); the
frames' version nibbles (10, or 5 before the compact index; 9 where a frame names its
model) give the format.

A frame decodes on its own, so an archive can be listed, tested and extracted frame by
frame, decoded by several processes at once, and salvaged around a damaged frame; the
index names the members of a frame even when the frame is damaged. The writer streams
frames into a temporary file, writes the safetensors header last and renames: memory is
bounded by one frame and the members' names, and no half-written archive is ever visible.
"""

from __future__ import annotations

import contextlib
import io
import json
import lzma
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vaezip.errors import FormatError
from vaezip.fileio import atomic_writer, cannot_write, check_writable
from vaezip.format.binary import header_bytes, header_length, read_uvarint
from vaezip.format.container import frame_number, is_framed, is_framed_bytes, loads
from vaezip.format.index import index_bytes, index_lists
from vaezip.format.names import check_name, is_model_name
from vaezip.format.payload import COMPACT_INDEX, VzFile, declared_features, parse_payload

# Images per frame, by mode: small enough that --member decodes little and processes share
# the work evenly, large enough that a frame's fixed cost stays below 0.1 B per image:
# ~60 B of header, CRC and the coder's flush, and in bits-back modes ~90 B more for the
# first images, whose posterior bits come from the seed instead of the images before
# (~190 B a lossless frame in all, measured on 2,048 test digits). Lossless frames hold 1,024
# since issue 30: the 10,000 test digits make 10 frames, which two processes share evenly
# (-T 2 encoded 725 digits/s, against 643 with 5 frames of 2,048), for 0.04 B per image.
FRAME_IMAGES = {"quantised": 1024, "lossless": 1024, "near-lossless": 2048}
_MAX_FRAMES = 10_000_000
# An archive written to a file object keeps up to this many bytes of frames in memory
# before it spools them to a temporary file.
_SPOOL_IN_MEMORY = 64 << 20


def frame_tensor(index: int, model: str | None = None) -> str:
    """A frame's tensor name: its number, and a model of its own if it has one."""
    return str(index) if model is None else f"{index}:{model}"


def _compact_frame(head: bytes) -> bool:
    """Whether a frame's payload (or its first bytes) declares that its archive's index
    is compact (version 10, or the feature in its set)."""
    try:
        return COMPACT_INDEX in declared_features(head)[0]
    except (ValueError, FormatError):
        return False


def _index_name(names) -> str | None:
    rest = [n for n in names if frame_number(n) is None]
    return rest[0] if len(rest) == 1 else None


class ArchiveWriter:
    """The one writer of framed archives. target: a path (written atomically when the
    archive is closed; '-' is standard output) or any binary file object (written at close,
    from where it stands). Frames are spooled as they come, since the header, written
    first, needs every frame's size, and the index, written last, every frame's version."""

    def __init__(self, target: str | BinaryIO, model: str, *, force: bool = False):
        self.target, self.model, self.force = target, model, force
        self._data_path: Path | None = None
        if isinstance(target, str):
            if target != "-":
                check_writable(Path(target), force)
            target_dir = Path(target).parent if target != "-" else Path.cwd()
            self._data_path = target_dir / f".{Path(target).name}.{os.getpid()}.frames.tmp"
            with cannot_write(Path(target)):
                target_dir.mkdir(parents=True, exist_ok=True)
                self._data = open(self._data_path, "w+b")  # noqa: SIM115 - closed in close/abort
        else:
            self._data = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
        self._sizes: list[int] = []
        self._models: list[str | None] = []
        self._name_lists: list[str] = []
        self._compact = False
        self.images = 0

    def add(self, payload: bytes, names: list[str], model: str | None = None) -> None:
        """Append one frame: its coded payload, the names of its members in order, and
        the model it was coded with where that is not the archive's."""
        self._data.write(payload)
        self._models.append(model)
        self._name_lists.append("\n".join(names))
        self._compact |= _compact_frame(payload)
        self._sizes.append(len(payload))
        self.images += len(names)

    def close(self) -> int:
        """Write the header, the frames and the index to the target; return the size."""
        index = index_bytes(self._name_lists, self._compact)
        head = _header(self.model, self._sizes, len(index), self._models)
        try:
            if self._data_path is None:
                self._emit(self.target, head, index)
            else:
                with atomic_writer(self.target, self.force) as out:
                    self._emit(out, head, index)
        finally:
            self.abort()
        return len(head) + sum(self._sizes) + len(index)

    def _emit(self, out, head: bytes, index: bytes) -> None:
        out.write(head)
        self._data.seek(0)
        shutil.copyfileobj(self._data, out, 1 << 20)
        out.write(index)

    def abort(self) -> None:
        """Drop what was spooled; nothing reaches the target."""
        self._data.close()
        if self._data_path is not None:
            self._data_path.unlink(missing_ok=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _header(model: str, sizes: list[int], index_size: int,
            models: list[str | None] | None = None) -> bytes:
    """The safetensors header: frames 0 .. n-1, then the index named after the model."""
    tensors, offset = {}, 0
    models = models or [None] * len(sizes)
    for i, (size, own) in enumerate(zip(sizes, models, strict=True)):
        tensors[frame_tensor(i, own)] = {"dtype": "U8", "shape": [size],
                                    "data_offsets": [offset, offset + size]}
        offset += size
    tensors[model] = {"dtype": "U8", "shape": [index_size],
                      "data_offsets": [offset, offset + index_size]}
    return header_bytes(tensors)


def framed_bytes(model: str, frames: list[tuple[bytes, list[str], str | None]]) -> bytes:
    """A whole framed archive in memory, by ArchiveWriter. frames: (payload, member names,
    the frame's own model or None)."""
    buffer = io.BytesIO()
    with ArchiveWriter(buffer, model) as writer:
        for payload, names, own_model in frames:
            writer.add(payload, names, own_model)
    return buffer.getvalue()


@dataclass(frozen=True)
class FrameInfo:
    index: int
    packed_names: str  # the members' names in order, one per line (one string: millions fit)
    size: int  # bytes of the frame's payload
    model: str | None = None  # version 9: the model the frame names; None: the archive's

    @property
    def names(self) -> list[str]:
        return self.packed_names.split("\n")


class ArchiveReader:
    """A framed archive, opened lazily: the header and the index now, frames on demand
    (safe_open maps the file; only the frames asked for are read)."""

    def __init__(self, source, label: str):
        """source: a path, or the whole file as bytes."""
        from safetensors import safe_open

        self.label = label
        self._bytes = None
        try:
            if isinstance(source, bytes | bytearray):
                from safetensors.numpy import load

                self._bytes = load(bytes(source))
                names = list(self._bytes)
            else:
                self._file = contextlib.ExitStack()
                handle = self._file.enter_context(safe_open(str(source), framework="numpy"))
                self._handle = handle
                names = list(handle.keys())
        except FormatError:
            raise
        except Exception as exc:  # the safetensors library's own errors
            raise FormatError(f"{label}: invalid safetensors data ({exc})") from None
        self.model = _index_name(names)
        frames = len(names) - 1
        self._tensors = {frame_number(n): n for n in names if n != self.model}
        if not (1 <= frames <= _MAX_FRAMES and self.model is not None
                and set(self._tensors) == set(range(frames))):
            raise FormatError(f"{label}: the tensors are not numbered frames and an index")
        if not is_model_name(self.model):
            raise FormatError(f"{label}: missing or invalid model name {self.model!r}")
        self._own = {}
        for i, tensor in self._tensors.items():
            if ":" in tensor:
                own = tensor.split(":", 1)[1]
                if not is_model_name(own):
                    raise FormatError(f"{label}: frame {i} names an invalid model {own!r}")
                self._own[i] = own
        self.frames, self.index_damaged = self._read_index(frames)
        self.count = sum(len(f.names) for f in self.frames)

    def _tensor(self, name: str) -> bytes:
        array = self._bytes[name] if self._bytes is not None else self._handle.get_tensor(name)
        if array.dtype.kind != "u" or array.itemsize != 1 or array.ndim != 1:
            raise FormatError(f"{self.label}: tensor {name} is not uint8 bytes")
        return array.tobytes()

    def _read_index(self, frames: int) -> tuple[list[FrameInfo], bool]:
        """The frames' member names; where the index is damaged, names by position
        (frame-0000002/member-0000001.png ...), the counts from the frames themselves."""
        sizes = [self._payload_size(i) for i in range(frames)]
        data = self._tensor(self.model)
        try:
            compact = any(_compact_frame(self._frame_head(i)) for i in range(frames))
            lists = index_lists(data, compact)
            if len(lists) != frames:
                raise ValueError("shape")
            hashes = []
            for i, packed in enumerate(lists):
                for name in packed.split("\n"):
                    check_name(name, f"{self.label}: frame {i}")
                    hashes.append(name_hash(name))
            if len(set(hashes)) != len(hashes) and _duplicates(lists):
                raise FormatError(f"{self.label}: duplicate member names")
            return [FrameInfo(i, packed, sizes[i], self._own.get(i))
                    for i, packed in enumerate(lists)], False
        except (ValueError, lzma.LZMAError, UnicodeDecodeError):
            return [FrameInfo(i, "\n".join(f"frame-{i:07d}/member-{j:07d}.png"
                                            for j in range(self._frame_count(i))), sizes[i],
                              self._own.get(i))
                    for i in range(frames)], True

    def _frame_head(self, i: int) -> bytes:
        """The first bytes of frame i, read alone: its fixed header and feature set."""
        name = self._tensors[i]
        if self._bytes is not None:
            return self._bytes[name][:16].tobytes()
        handle = self._handle.get_slice(name)
        return bytes(handle[0 : min(16, handle.get_shape()[0])])

    def _frame_count(self, i: int) -> int:
        """A frame's image count from its own header (0 where that is unreadable)."""
        try:
            payload = self.frame_bytes(i)
            return read_uvarint(payload, declared_features(payload)[1])[0]
        except (ValueError, FormatError):
            return 0

    def _payload_size(self, i: int) -> int:
        if self._bytes is not None:
            return int(self._bytes[self._tensors[i]].size)
        return int(self._handle.get_slice(self._tensors[i]).get_shape()[0])

    @property
    def names(self) -> list[str]:
        return [name for frame in self.frames for name in frame.names]

    def frame_bytes(self, i: int) -> bytes:
        """Frame i's payload as stored (to copy it into another archive unchanged)."""
        return self._tensor(self._tensors[i])

    def frame(self, i: int) -> VzFile:
        """Frame i as a VzFile (its checksum not yet checked: that needs the model)."""
        info = self.frames[i]
        label = f"{self.label}: frame {i}"
        vz = parse_payload(info.model or self.model, self.frame_bytes(i), label,
                           names=list(info.names), own_model=info.model is not None)
        if vz.positions is not None:
            before = len(self.frames[i - 1].names) if i else 0
            if not i or self.frames[i - 1].model is not None or (
                    vz.positions[-1] >= before + len(vz)):
                raise FormatError(f"{label}: member positions that do not fit the frame "
                                  f"before it")
        return vz

    def close(self) -> None:
        if self._bytes is None:
            self._file.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def name_hash(text: str) -> int:
    """A 64-bit hash of a name, to count and compare millions of names in 8 bytes each
    (where two hashes meet, the names themselves are compared). Python's own: the same in
    this process and in the workers it forks, which is all the checks need."""
    return hash(text)


def _duplicates(lists: list[str]) -> bool:
    names = [n for packed in lists for n in packed.split("\n")]
    return len(set(names)) != len(names)


def is_framed_file(path: Path) -> bool:
    """Whether the file at path is a framed archive (reads its header only)."""
    try:
        with open(path, "rb") as handle:
            n = header_length(handle.read(8))
            return n is not None and is_framed(json.loads(handle.read(n)))
    except (OSError, ValueError, AttributeError):
        return False


def open_vz(path: Path | None, data: bytes | None, label: str) -> ArchiveReader | VzFile:
    """The one way a .vz is opened: a framed archive lazily (its header and index; from
    its path, or from its bytes), any other .vz read and validated whole. data: the file's
    bytes where there is no path (standard input, the Python API), or None to read path."""
    if path is not None and is_framed_file(path):
        return ArchiveReader(path, label)
    data = path.read_bytes() if data is None else data
    if is_framed_bytes(data):
        return ArchiveReader(data, label)
    return loads(data, label)
