"""The byte-level pieces every .vz layout shares, written once: the safetensors header (an
8-byte little-endian length, then compact JSON) and LEB128 unsigned integers.
"""

from __future__ import annotations

import json
import struct

MAX_HEADER = 100_000_000  # bytes; a packed archive of 1M images has a ~50 MB header
LENGTH = struct.Struct("<Q")  # the header's length prefix


def header_bytes(header: dict, ascii_only: bool = True) -> bytes:
    """The length prefix and the header's JSON, compact and in the dict's key order, so that
    the same header is the same bytes (the safetensors library orders keys by hash map)."""
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=ascii_only).encode()
    return LENGTH.pack(len(text)) + text


def header_length(prefix: bytes, available: int | None = None) -> int | None:
    """The header length that prefix (at least 8 bytes) declares, or None where it cannot
    be a header: over MAX_HEADER, or past the `available` bytes after the prefix."""
    if len(prefix) < LENGTH.size:
        return None
    (length,) = LENGTH.unpack_from(prefix)
    limit = MAX_HEADER if available is None else min(MAX_HEADER, available)
    return length if length <= limit else None


def parse_header(data: bytes) -> dict | None:
    """A safetensors header's JSON object, or None where data does not start with one."""
    if len(data) < 10 or data[8:9] != b"{":
        return None
    length = header_length(data, len(data) - LENGTH.size)
    if length is None:
        return None
    try:
        header = json.loads(data[LENGTH.size : LENGTH.size + length])
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def uvarint(value: int) -> bytes:
    """value >= 0 as LEB128: 7 bits a byte, low first, the top bit set on all but the last."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_uvarint(data: bytes, pos: int, max_bytes: int = 5) -> tuple[int, int]:
    """(value, position after it) of the LEB128 integer at data[pos]; ValueError where it
    runs past the data or past max_bytes (5 bytes: 35 bits, more than any count here)."""
    value = shift = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            break
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos + i + 1
    raise ValueError("truncated or invalid LEB128 integer")
