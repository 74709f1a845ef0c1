"""vaezip list, test and cat on archives: what a .vz holds, whether it is intact, and
shards joined into one archive frame by frame. Library code: raises VaezipError subclasses,
never prints.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

from vaezip.archives import PackSummary, check_frames, copy_frames_into, open_archive
from vaezip.errors import FormatError, UnknownModelError, UsageError
from vaezip.format import container
from vaezip.format.archive import ArchiveReader, ArchiveWriter, is_framed_file, open_vz
from vaezip.format.index import member_order
from vaezip.format.payload import PLAIN_FRAMES, VISIBLE_ERROR
from vaezip.frames.framing import given_back
from vaezip.frames.sources import Source
from vaezip.models.registry import find
from vaezip.pipeline import decode_file


def concatenate(inputs: list[str], target: str, *, force: bool = False) -> PackSummary:
    """`vaezip cat`: framed archives joined frame by frame into target, members in the
    order given. They must name one model (a frame records its own model only where it
    differs from the archive's), hold no member name twice, and be intact: a damaged
    frame is refused, not copied."""
    summary, readers = PackSummary(), []
    try:
        for path in inputs:
            if not is_framed_file(Path(path)):
                raise FormatError(f"{path}: not a framed archive (vaezip cat joins archives "
                                  f"made by encode --pack)")
            readers.append(open_archive(path))
        first = readers[0]
        owner: dict[str, int] = {}  # member name -> the input that holds it
        for k, reader in enumerate(readers):
            if reader.model != first.model:
                raise UsageError(f"{reader.label}: made with model {reader.model}, "
                                 f"{first.label} with {first.model}; cat joins archives of "
                                 f"one model")
            if reader.index_damaged or check_frames(reader):
                raise FormatError(f"{reader.label}: damaged (vaezip test names what is lost)")
            for name in reader.names:
                earlier = owner.setdefault(name, k)
                if earlier != k:
                    raise UsageError(f"{reader.label}: member {name!r} is in "
                                     f"{readers[earlier].label} too; cat keeps every member "
                                     f"name unique")
        writer = ArchiveWriter(target, first.model, force=force)
        try:
            for reader in readers:
                copy_frames_into(reader, writer)
                summary.frames += len(reader.frames)
                summary.images += reader.count
                summary.bytes_in += Path(reader.label).stat().st_size
            summary.bytes_out = writer.close()
        except BaseException:
            writer.abort()
            raise
    finally:
        for reader in readers:
            reader.close()
    return summary


def _placements(vz) -> tuple:
    """A file's records as the images they describe: plain-framed records are stored
    relative to their model's frame, which its installed config gives (else "?")."""
    if PLAIN_FRAMES not in vz.features:
        return vz.images
    try:
        return given_back(find(vz.model).config, vz.images)
    except UnknownModelError:
        return tuple(replace(p, width="?", height="?", mode="?") for p in vz.images)


def describe(path: Path | None, label: str) -> dict:
    """What a .vz file holds: model, mode, qualities, format, size, frames and members."""
    data = None if path is not None else Source(path, label, label).read()  # stdin
    opened = open_vz(path, data, label)
    if isinstance(opened, ArchiveReader):
        with opened as reader:
            frames = [(info.index, reader.frame(info.index)) for info in reader.frames]
        fmt = max(vz.declared_version for _, vz in frames)
    else:
        frames, fmt = [(0, opened)], opened.declared_version
    lone = not frames[0][1].packed and len(frames[0][1]) == 1  # named by its file
    members = member_order([(i, vz.positions, [
        {"name": PurePosixPath(label).stem + ".png" if lone else p.name, "frame": i,
         "width": p.width, "height": p.height, "mode": p.mode,
         **({"nondigit": p.nondigit / 100} if p.nondigit else {}),
         **({"guarded": vz.model} if vz.own_model else {})} for p in _placements(vz)])
        for i, vz in frames])
    # The archive's own frames say what it is; frames of a second model (the identity
    # guard's near-lossless digits, format 9) are counted apart.
    own = [vz for _, vz in frames if not vz.own_model] or [vz for _, vz in frames]
    guarded = [vz for _, vz in frames if vz.own_model]
    return {
        "file": label, "model": own[0].model, "mode": own[0].mode, "format": fmt,
        "quality": sorted({vz.quality for vz in own if vz.mode == "quantised"}),
        "max_error": sorted({vz.quality + 1 for vz in own if vz.mode == "near-lossless"}),
        "visible": any(VISIBLE_ERROR in vz.features for vz in own),  # max_error as seen
        "guarded": sum(len(vz) for vz in guarded),
        "guard_max_error": sorted({vz.quality + 1 for vz in guarded}),
        "bytes": path.stat().st_size if path is not None else len(data),
        "images": len(members), "frames": [len(vz) for _, vz in frames], "members": members,
    }


def verify(path: Path | None, label: str) -> tuple[list[str], int]:
    """(the members that cannot be recovered, the image count) of a .vz file. A framed
    archive's frames are checked by their checksums; other files are decoded in full."""
    if path is not None and is_framed_file(path):
        try:
            reader = open_archive(path, label)
        except FormatError:
            return [f"{label} (its header)"], 0
        with reader:
            damaged = check_frames(reader)
            return [n for i in damaged for n in reader.frames[i].names], reader.count
    try:
        vz = container.loads(Source(path, label, label).read(), label)
    except FormatError:
        return [f"{label} (unreadable)"], 0
    try:
        decode_file(vz, label)
    except FormatError:
        return [p.name for p in vz.images], len(vz)
    return [], len(vz)
