"""Archives at any scale: many images into a framed archive (format/archive.py) and back, frame by
frame, in one process or several, with member selection, checks and salvage.

Memory is bounded by the frames in flight, not by the number of images: sources are read
a frame at a time, frames are written as they are made, and decoding writes each frame's
images before it reads the next. With threads > 1, worker processes (fork) make or decode
frames and the parent keeps their order, so the bytes are the same for every count.
Library code: raises VaezipError subclasses, never prints.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vaezip.codecs.exact import _parity_windows, prior_masses
from vaezip.codecs.guard import chunk_frames
from vaezip.codecs.modes import for_file
from vaezip.errors import FormatError, ImageError, InputErrors, UsageError
from vaezip.fileio import check_writable, write_output
from vaezip.format.archive import (
    FRAME_IMAGES,
    ArchiveReader,
    ArchiveWriter,
    name_hash,
)
from vaezip.frames.digit import image_bytes
from vaezip.frames.sources import Source
from vaezip.pipeline import (
    DecodeOptions,
    EncodeOptions,
    ModelCache,
    decode_file,
    output_format,
    read_batch,
)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _ordered_map(function, items: Iterable, threads: int) -> Iterator:
    """function over items, results in order; with threads > 1 in that many forked
    processes, at most 2 x threads items in flight (bounded memory). A single item runs
    here: a worker pool would only add its start-up to a small archive."""
    items = iter(items)
    first = list(itertools.islice(items, 2))
    items = itertools.chain(first, items)
    if threads <= 1 or len(first) < 2:
        yield from map(function, items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=threads, mp_context=context,
                             initializer=_one_blas_thread) as pool:
        pending = []
        for item in itertools.islice(items, 2 * threads):
            pending.append(pool.submit(function, item))
        while pending:
            result = pending.pop(0).result()
            for item in itertools.islice(items, 1):
                pending.append(pool.submit(function, item))
            yield result


def _one_blas_thread() -> None:
    """A worker process's BLAS runs one thread: the processes share the cores, and
    OpenBLAS threads contending for them run several times slower."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _single_blas_thread():
    """The same in the parent, for every thread count: the float encoder's results (and so
    the quantised latents) must not depend on how many BLAS threads split its sums, or
    -T 1 and -T 2 would write different bytes."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _prepare_workers(codec, plan) -> None:
    """Build what every frame needs once, before worker processes fork from this one."""
    if plan is not None:  # its near-lossless codec
        _prepare_workers(plan.fallback, None)
    if codec.takes_levels:

        codec.model.exact  # noqa: B018 - the integer network, built on first use
        _parity_windows()
        prior_masses()


# --- encoding ---------------------------------------------------------------------------


@dataclass
class PackSummary:
    images: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    frames: int = 0
    guarded: int = 0  # digits the identity guard coded near-lossless
    warnings: list[str] = field(default_factory=list)


_CODECS: dict = {}  # per process: the codec and guard plan of an EncodeOptions


def _codec(options: EncodeOptions):
    """(codec, guard plan or None) of options, made once per process."""
    if options not in _CODECS:
        codec = options.codec()
        _CODECS[options] = codec, options.guard_plan(codec)
    return _CODECS[options]


def _encode_chunk(job: tuple[EncodeOptions, list[Source]]):
    """One chunk's (frames: [(payload, names, own model or None)], names, bytes in,
    warnings, errors); no frames where an input failed."""
    options, sources = job
    codec, plan = _codec(options)
    try:
        read = read_batch(sources, codec, options.digit)
    except InputErrors as exc:
        return [], [], 0, [], exc.messages
    return (chunk_frames(codec, plan, read.batch), [s.name for s in sources], sum(read.sizes),
            list(read.warnings), [])


def pack(sources: Iterable[Source], target: str, options: EncodeOptions, *, threads: int = 1,
         force: bool = False, append: bool = False,
         on_frame: Callable[[int], None] | None = None) -> PackSummary:
    """Encode sources into a framed archive at target ('-': stdout). append: add frames to
    the archive already there. Every input is tried; if any fails, nothing is written and
    InputErrors names them all."""
    codec, plan = _codec(options)
    if codec.mode not in FRAME_IMAGES:
        raise UsageError("float latents are not framed; pack them without threads or append")
    _prepare_workers(codec, plan if threads > 1 else None)
    # The exact (lossless) coder computes the same in any BLAS, so it keeps its threads.
    limit = contextlib.nullcontext() if codec.takes_levels else _single_blas_thread()
    with limit:
        return _pack(sources, target, options, codec, threads, force, append, on_frame)


def _pack(sources, target, options, codec, threads, force, append, on_frame) -> PackSummary:
    writer = ArchiveWriter(target, codec.model.name, force=force or append)
    summary, errors = PackSummary(), []
    try:
        taken = _copy_frames(target, writer, codec.model.name) if append else set()
        size = FRAME_IMAGES[codec.mode]
        jobs = ((options, chunk) for chunk in _chunks(sources, size))
        for frames, names, bytes_in, warnings, failed in _ordered_map(_encode_chunk, jobs,
                                                                      threads):
            errors += failed
            summary.warnings += warnings
            clash = taken.intersection(names)
            if clash:
                raise UsageError(f"{target}: already holds {sorted(clash)[0]!r}; rename it, or "
                                 f"write a new archive")
            if append:
                taken.update(names)
            if not errors:
                for payload, members, own_model in frames:
                    writer.add(payload, members, own_model)
                    summary.guarded += len(members) if own_model else 0
            summary.images += len(names)
            summary.bytes_in += bytes_in
            summary.frames += len(frames)
            if on_frame:
                on_frame(len(names))
        if errors:
            raise InputErrors(errors, max(summary.images, len(errors)))
        if not writer.images:
            raise ImageError("no images to pack")
        summary.bytes_out = writer.close()
    except BaseException:
        writer.abort()
        raise
    return summary


def _chunks(sources: Iterable[Source], size: int) -> Iterator[list[Source]]:
    iterator = iter(sources)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _copy_frames(target: str, writer: ArchiveWriter, model: str) -> set[str]:
    """--append: the existing archive's frames, copied as they are (not re-encoded); returns
    their members' names."""
    if target == "-" or not Path(target).is_file():
        raise UsageError(f"{target}: no archive to append to")
    with open_archive(target) as reader:
        if reader.model != model:
            raise UsageError(f"{target} holds images of {reader.model}, not {model}")
        if reader.index_damaged:
            raise FormatError(f"{target}: its index is damaged; salvage it before appending")
        copy_frames_into(reader, writer)
        return set(reader.names)


def copy_frames_into(reader: ArchiveReader, writer: ArchiveWriter) -> None:
    """Every frame of reader into writer as it is stored: nothing is decoded or re-coded,
    and a guard's frame still follows the frame its positions refer to."""
    for info in reader.frames:
        writer.add(reader.frame_bytes(info.index), info.names, info.model)


def open_archive(source: str | Path | bytes, label: str | None = None) -> ArchiveReader:
    """A framed archive from a path (read lazily) or from its bytes."""
    if isinstance(source, bytes | bytearray):
        return ArchiveReader(source, label or "<data>")
    return ArchiveReader(Path(source), label or str(source))


# --- decoding ---------------------------------------------------------------------------


def member_path(name: str, clashes: set[int]) -> str:
    """Where a member goes inside the output directory: its stored path with the suffix
    replaced by .png (a.jpg -> a.png); where two members would then meet (a.png and a.jpg),
    the one whose name does not already end in .png keeps its whole name plus .png
    (a.jpg -> a.jpg.png). clashes: clashing_paths() of all the archive's names."""
    plain = _plain(name)
    return name + ".png" if plain != name and name_hash(plain) in clashes else plain


def clashing_paths(names: Iterable[str]) -> set[int]:
    """The (hashed) output paths that two or more members would share: 8 bytes per member
    while counting, so that millions of names fit."""
    import numpy as np

    hashes = np.fromiter((name_hash(_plain(n)) for n in names), dtype=np.int64)
    values, counts = np.unique(hashes, return_counts=True)
    return {int(v) for v in values[counts > 1]}


def _plain(name: str) -> str:
    """name with its suffix replaced by .png (PurePosixPath.with_suffix's rule, in string
    operations: this runs for every member of an archive)."""
    base = name.rfind("/") + 1
    dot = name.rfind(".")
    if dot > base and dot < len(name) - 1:  # a suffix: not a leading or trailing dot
        return name if name[dot:].lower() == ".png" else name[:dot] + ".png"
    return name + ".png"


@dataclass
class UnpackSummary:
    written: int = 0
    folders: set[str] = field(default_factory=set)  # the directories members went to
    lost: list[str] = field(default_factory=list)  # members of damaged frames
    damaged_frames: list[int] = field(default_factory=list)


def check_frames(reader: ArchiveReader, frames: list[int] | None = None,
                 models: ModelCache | None = None) -> list[int]:
    """The frames (of those given, default all) whose bytes fail their checksum or do not
    parse: found without decoding any stream."""
    models = models or ModelCache()
    damaged = []
    for i in frames if frames is not None else range(len(reader.frames)):
        try:
            vz = reader.frame(i)
            codec = for_file(vz, models.get(vz, reader.label))
            if not codec.frame_intact(vz):
                damaged.append(i)
        except FormatError:
            damaged.append(i)
    return damaged


def _decode_frame(job) -> tuple[int, set[str]]:
    """Decode one frame of an archive file and write the members asked for."""
    path, label, i, targets, options, force = job

    if (path, label) not in _READERS:  # one per process: the index is read once
        _READERS.clear()
        _READERS[path, label] = open_archive(path, label)
    vz = _READERS[path, label].frame(i)
    images = decode_file(vz, f"{label}: frame {i}", options, _MODELS, only=set(targets))
    for name, image in images:
        target = targets[name]
        write_output(target, image_bytes(image, output_format(target)), force)
    return len(images), {str(Path(t).parent) for t in targets.values()}


_MODELS = ModelCache()
_READERS: dict = {}


def unpack(path: str | Path, out_dir: Path, *, members: list[str] | None = None,
           salvage: bool = False, threads: int = 1, force: bool = False,
           options: DecodeOptions = DecodeOptions(), label: str | None = None,
           on_frame: Callable[[int], None] | None = None,
           reader: ArchiveReader | None = None) -> UnpackSummary:
    """Decode a framed archive into out_dir (only the members named, if any). Checks every
    frame needed first: a damaged one is a FormatError naming its members, unless salvage,
    which writes every intact member and reports the lost ones. reader: the archive at path
    already opened (its index read once); unpack closes it."""
    reader = reader or open_archive(path, label)
    label = reader.label
    try:
        wanted = set(members) if members else None
        if wanted is not None:
            missing = sorted(wanted.difference(*(f.names for f in reader.frames)))
            if missing:
                raise UsageError(f"{label}: no member {missing[0]!r}"
                                 + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        frames = [f.index for f in reader.frames
                  if wanted is None or wanted.intersection(f.names)]
        clashes = clashing_paths(n for f in reader.frames for n in f.names)

        def targets(i: int) -> dict[str, str]:
            return {n: str(out_dir / member_path(n, clashes)) for n in reader.frames[i].names
                    if wanted is None or n in wanted}

        for i in frames:  # before any work: nothing is overwritten without force
            for target in targets(i).values():
                check_writable(Path(target), force)
        damaged = check_frames(reader, frames, _MODELS)
        summary = UnpackSummary(damaged_frames=damaged)
        summary.lost = [n for i in damaged for n in reader.frames[i].names
                        if wanted is None or n in wanted]
        if damaged and not salvage:
            raise FormatError(f"{label}: damaged; cannot recover {_some(summary.lost)} (frame"
                              f"{'s' if len(damaged) > 1 else ''} "
                              f"{', '.join(map(str, damaged[:5]))}); --salvage writes the rest")
        intact = set(frames) - set(damaged)
        if threads <= 1:  # frames decode here: with this reader, the index read once
            _READERS[Path(path), label] = reader
        jobs = ((Path(path), label, i, targets(i), options, force) for i in frames
                if i in intact)
        for written, folders in _ordered_map(_decode_frame, jobs, threads):
            summary.written += written
            summary.folders |= folders
            if on_frame:
                on_frame(written)
    finally:
        for other in {id(r): r for r in [reader, *_READERS.values()]}.values():
            other.close()
        _READERS.clear()
    return summary


def _some(names: list[str], shown: int = 3) -> str:
    head = ", ".join(names[:shown])
    return f"{len(names)} member{'s' if len(names) != 1 else ''} ({head}" + (
        ", ...)" if len(names) > shown else ")")
