"""A framed archive's index: its members' names, frame by frame, and how the compact index
(version 10) writes a name that follows the one before it in a numbered series; and the
member order across a guard's frames, which list their members' places among the frame
before them (version 9).
"""

from __future__ import annotations

import lzma
import re
import struct
import zlib

# In a compact index (version 10): this name is next_name of the one before it.
SUCCESSOR = "\x01"
_LAST_NUMBER = re.compile(r"[0-9]+(?=[^0-9]*$)")
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1 << 20}]


def next_name(name: str) -> str | None:
    """The name after `name` in a numbered series: its last run of ASCII digits plus one,
    keeping at least its width (00099.png -> 00100.png, 9.png -> 10.png); None without a
    digit."""
    match = _LAST_NUMBER.search(name)
    if match is None:
        return None
    digits = match.group()
    kept = digits.rstrip("9")  # the digits above the carry
    bumped = kept[:-1] + chr(ord(kept[-1]) + 1) if kept else "1"
    return name[: match.start()] + bumped + "0" * (len(digits) - len(kept)) + name[match.end():]


def index_bytes(name_lists: list[str], compact: bool) -> bytes:
    """The index tensor: CRC-32, then raw LZMA2 of the frames' member lists (each one
    string, a name per line), with SUCCESSOR for the next name of a series if compact."""
    text = "\n\n".join(name_lists)
    if compact:
        previous, lines = None, text.split("\n")
        for i, name in enumerate(lines):
            if name:  # not a frame break
                if previous is not None and name == next_name(previous):
                    lines[i] = SUCCESSOR
                previous = name
        text = "\n".join(lines)
    data = lzma.compress(text.encode(), format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    return struct.pack("<I", zlib.crc32(data)) + data


def expand_index(text: str) -> str:
    """A compact index's text with every SUCCESSOR replaced by the name it stands for."""
    previous, lines = None, text.split("\n")
    for i, line in enumerate(lines):
        if line == SUCCESSOR:
            line = lines[i] = next_name(previous) if previous is not None else None
            if line is None:
                raise ValueError("a successor without a numbered name before it")
        if line:
            previous = line
    return "\n".join(lines)


def member_order(parts: list[tuple[int, tuple[int, ...] | None, list]]) -> list:
    """Items given per frame, (frame number, its positions (VzFile.positions), one item per
    member) in frame order, as one list in the archive's member order: a frame that lists
    positions interleaved with the frame before it."""
    out: list = []
    for k, (i, positions, items) in enumerate(parts):
        if positions is not None and k and parts[k - 1][0] == i - 1:
            before = len(parts[k - 1][2])
            out[len(out) - before:] = merge_listing(out[len(out) - before:], items, positions)
        else:
            out += items
    return out


def merge_listing(before: list, own: list, positions) -> list:
    """The members of a frame that lists positions (version 9) and of the frame before it,
    in input order: own[k] goes to place positions[k] of the merged list."""
    merged, rest = [], iter(before)
    at = dict(zip(positions, own, strict=True))
    for place in range(len(before) + len(own)):
        merged.append(at[place] if place in at else next(rest))
    return merged


def index_lists(data: bytes, compact: bool) -> list[str]:
    """The inverse of index_bytes: each frame's member names, one string a frame, a name
    per line. ValueError where the checksum fails or the data is not such an index."""
    if len(data) < 4 or struct.unpack("<I", data[:4])[0] != zlib.crc32(data[4:]):
        raise ValueError("checksum")
    inflate = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    text = inflate.decompress(data[4:], max_length=1 << 31).decode()
    return (expand_index(text) if compact else text).split("\n\n")
