"""The coded payload: the bytes that hold a coded batch of images, in a single .vz file (as
its one tensor) and in every frame of an archive. Its versions and flags, the immutable
VzFile it is read into, its checksum, and its writer and reader. See docs/FORMAT.md.

  0  version (high nibble), mode (low: 0 quantised latents, 1 lossless, 2 near-lossless)
  1  flags (high nibble: 1 archive, 2 placements follow, 4 they are plain JSON, 8 member
     positions follow the count), quality (low nibble)
  2  CRC-32 (little-endian) of the model's hash + grid + bytes 6..
     (lossless: of the model's hash + the decoded pixels)
  6  [archive] image count (LEB128)  [positions] one LEB128 gap per member
     [placements] length (LEB128) + LZMA2-compressed JSON list of placement records;
     then the ANS stream
"""

from __future__ import annotations

import json
import lzma
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from vaezip.errors import FormatError
from vaezip.format.binary import MAX_HEADER, read_uvarint, uvarint
from vaezip.format.records import LONE_NAME, images_from_json, placement_record
from vaezip.frames.digit import Placement

FORMAT_KEY = "vaezip"
# 2: images may carry a "digit"; 3: the coded layout; 4: exact lossless; 5: framed
# archives; 6: records may carry a "nondigit" score; 7: near-lossless; 8: one-letter
# names of shipped models in single coded files; 9: archive frames coded with a model of
# their own (the identity guard's near-lossless digits), placed among their chunk's;
# 10: the frames of archives whose index codes numbered names compactly; 11: a feature
# set follows the fixed header (FEATURES_VERSION): every feature since is a bit there
FORMAT_VERSION = 11
FLOAT_VERSION = 2  # the newest float layout: version 2 with digits, else written as 1
CODED_VERSION = 3  # quantised latents, and lossless files whose coder used floats
EXACT_VERSION = 4  # lossless files coded with integer arithmetic (codecs/exact.py)
FRAME_VERSION = 5  # framed archives (format/archive.py) and their frames' payloads
# Quantised payloads, single or framed, in which some image's record carries the encoder's
# "not a digit" score. Written only then: every other file stays readable by older readers.
SCORED_VERSION = 6
# Near-lossless (mode 2): single files and frames alike. The quality nibble holds the
# maximum error less one (1-16).
NEAR_VERSION = 7
# Single coded files whose tensor is a shipped model's one-letter alias (names.SHORT_NAMES),
# in any mode; otherwise read as the version the mode would have (base_version). Archives
# keep the full name: 13 bytes are nothing next to an archive, and much next to a digit.
SHORT_VERSION = 8
# Archive frames whose tensor names a model of their own ("3:mnist-vae-lossless-lite",
# format/archive.py), in any mode; otherwise read as the frame version the mode would have
# (base_version). Such a frame may list its members' positions among those of the frame
# before it (FLAG_POSITIONS), so that an archive keeps its members in input order.
OWN_MODEL_VERSION = 9
# The frames of an archive whose index codes a numbered name as "the one after the name
# before it" (format/archive.py: 00001.png after 00000.png costs nearly nothing), in any mode;
# otherwise read as the frame version the mode would have (base_version). A version 9
# frame keeps its own number: an archive's index is compact when any frame is version 10.
COMPACT_INDEX_VERSION = 10
# From here on, a new feature is a bit of a feature set, not a version: a payload whose
# version nibble is 11 carries the set (LEB128) as the first bytes after its fixed
# header, and reads as the version its mode would otherwise have (base_version). Versions
# 8-10 stand for the feature sets they introduced, so every file reads the same way. A
# reader refuses a set with a bit it does not know, as older readers refuse version 11.
FEATURES_VERSION = 11
SHORT_NAME, OWN_MODEL, COMPACT_INDEX, PLAIN_FRAMES, VISIBLE_ERROR = (
    "short-name", "own-model", "compact-index", "plain-frames", "visible-error")
# plain-frames: the records are those of plain framing (frames/plain.py): the image's
# size and mode, no crop box; the model's frame says where it sits.
# visible-error: a near-lossless payload whose bound is on what is seen (encode --visible:
# colour error times opacity within N). It decodes as any near-lossless payload; the bit
# tells readers (and `vaezip list`) which promise the encoder kept.
FEATURE_BITS = {SHORT_NAME: 1, OWN_MODEL: 2, COMPACT_INDEX: 4, PLAIN_FRAMES: 8,
                VISIBLE_ERROR: 16}
LEGACY_FEATURES = {SHORT_VERSION: frozenset({SHORT_NAME}),
                   OWN_MODEL_VERSION: frozenset({OWN_MODEL}),
                   COMPACT_INDEX_VERSION: frozenset({COMPACT_INDEX})}
MODE_QUANTISED, MODE_LOSSLESS, MODE_NEAR = 0, 1, 2
FLAG_PACKED, FLAG_PLACEMENTS, FLAG_PLAIN = 1, 2, 4  # FLAG_PLAIN: records not compressed
FLAG_POSITIONS = 8  # version 9 frames: the members' positions follow the image count
CODED_HEADER = 6  # bytes before the variable part: two bytes of nibbles, the CRC-32
# Raw LZMA2 (no .xz container: its ~60 bytes of framing would outweigh a digit's code).
# A 1 MiB dictionary: preset 9's 64 MiB costs ~30 ms to set up for every file.
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 20}]
HASH_CHARS = 12  # 48 bits of the weights hash: plenty to tell versions of a model apart
MODE_FLOAT = "float"  # the float layout (versions 1-2): mu and sigma as float16 tensors
MODE_NAMES = {MODE_QUANTISED: "quantised", MODE_LOSSLESS: "lossless",  # the mode nibble
              MODE_NEAR: "near-lossless"}
MODE_NUMBERS = {name: number for number, name in MODE_NAMES.items()}


@dataclass(frozen=True)
class VzFile:
    """A .vz file as read and validated: complete and immutable. What the payload means
    (latents or pixels) is the codec's business (vaezip.codecs.codec_for)."""

    model: str
    mode: str  # "float", "quantised", "lossless" or "near-lossless"
    images: tuple[Placement, ...]
    packed: bool = False
    model_hash: str = ""  # float layout: 12 hex digits; coded: "" (the checksum covers it)
    version: int = 1  # the format version the file declares
    mu: np.ndarray | None = field(default=None, repr=False)  # float layout: float32 [N, K]
    sigma: np.ndarray | None = field(default=None, repr=False)
    quality: int = 0  # coded layout: 1-8 for quantised latents, 0 for lossless
    checksum: int = 0  # coded layout: the CRC-32 stored in the file
    body: bytes = field(default=b"", repr=False)  # coded: the bytes after the fixed header
    stream: bytes = field(default=b"", repr=False)  # coded: the ANS stream
    # Coded layout: the format features it uses (FEATURE_BITS); `version` is then the
    # version it reads as, and declared_version the nibble its bytes hold.
    features: frozenset[str] = frozenset()
    declared: int = 0
    # A version 9 frame's members' positions in the listing of the frame before it and
    # this one, merged (index.merge_listing); None: they follow that frame's members.
    positions: tuple[int, ...] | None = None

    @property
    def declared_version(self) -> int:
        """The version the file's bytes declare (what `vaezip list` shows)."""
        return self.declared or self.version

    @property
    def short_name(self) -> bool:
        return SHORT_NAME in self.features

    @property
    def own_model(self) -> bool:
        return OWN_MODEL in self.features

    @property
    def compact_index(self) -> bool:
        return COMPACT_INDEX in self.features

    def __len__(self) -> int:
        return len(self.images)

    def checksum_matches(self, model_hash: str, check: bytes) -> bool:
        """Whether the stored CRC-32 is that of the model's hash, then check, then (for
        quantised latents) the body. check: the grid for quantised latents, the decoded
        pixels for lossless files."""
        return self.checksum == coded_checksum(self.mode, model_hash, check, self.body,
                                               self.version)


def coded_checksum(mode: str, model_hash: str, check: bytes, body: bytes,
                   version: int = CODED_VERSION) -> int:
    """CRC-32 of the model's hash, then check, then the body: except in lossless files of
    versions 3-4, whose CRC covers the decoded pixels (check) instead of the body."""
    crc = zlib.crc32(check, zlib.crc32(model_hash[:HASH_CHARS].encode()))
    covers_body = mode == MODE_NAMES[MODE_QUANTISED] or version >= FRAME_VERSION
    return zlib.crc32(body, crc) if covers_body else crc


def coded_payload(model_hash: str, check: bytes, quality: int, images: list[Placement],
                  stream: bytes, mode: str, version: int, *, packed: bool,
                  named: bool = True, features: frozenset[str] = frozenset(),
                  positions: list[int] | None = None) -> bytes:
    """The coded bytes of len(images) images: two bytes of nibbles, the CRC-32, then the
    feature set (where one is declared), the count (packed), the placement records and the
    stream. A lone image's record leaves out its name (it decodes to the file's name), and
    so do a frame's (named=False: the archive's index holds them); records equal to the
    default (a 28x28 MNIST-style digit) are not stored where nothing else needs them.
    Records are LZMA2-compressed where that is shorter. features: what the payload uses
    (FEATURE_BITS; own-model: an archive frame of a model other than the archive's, with
    positions: its members' places among the previous frame's, strictly increasing).
    `version` is what the mode reads as; the nibble says more where features are used."""
    records = [placement_record(p) for p in images]
    if mode == MODE_NAMES[MODE_QUANTISED] and any(p.nondigit is not None for p in images):
        version = SCORED_VERSION
    if not (packed and named):
        for record in records:
            record.pop("name")
    flags = FLAG_PACKED if packed else 0
    body = bytearray()
    # A feature set that one of versions 8-10 stands for is written as that version, so
    # that files readable by older vaezips stay so; any other goes in the bytes.
    legacy = [v for v, f in LEGACY_FEATURES.items() if f == features]
    nibble = legacy[0] if legacy else FEATURES_VERSION if features else version
    if nibble == FEATURES_VERSION:
        body += uvarint(sum(FEATURE_BITS[f] for f in features))
    if packed:
        body += uvarint(len(images))
    if positions is not None:  # as gaps: small numbers, one byte each
        flags |= FLAG_POSITIONS
        previous = [-1, *positions[:-1]]
        body += b"".join(uvarint(p - q - 1) for q, p in zip(previous, positions, strict=True))
    if (packed and named) or any(records):
        text = json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode()
        squeezed = lzma.compress(text, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
        flags |= FLAG_PLACEMENTS | (0 if len(squeezed) < len(text) else FLAG_PLAIN)
        blob = squeezed if len(squeezed) < len(text) else text
        body += uvarint(len(blob)) + blob
    body += stream
    checksum = coded_checksum(mode, model_hash, check, bytes(body), version)
    # Nibbles, since every byte counts in a ~100-byte file: version | mode, flags | quality.
    return bytes([nibble << 4 | MODE_NUMBERS[mode], flags << 4 | quality]) + struct.pack(
        "<I", checksum) + bytes(body)


def declared_features(payload: bytes) -> tuple[frozenset[str], int]:
    """The features a payload declares (by its version nibble, or its feature set), and
    where the rest of its body starts. ValueError where the set is truncated; FormatError
    where it has a bit this vaezip does not know."""
    version = payload[0] >> 4 if payload else 0
    if version != FEATURES_VERSION:
        return LEGACY_FEATURES.get(version, frozenset()), CODED_HEADER
    bits, pos = read_uvarint(payload, CODED_HEADER)
    known = {f for f, bit in FEATURE_BITS.items() if bits & bit}
    if bits & ~sum(FEATURE_BITS.values()):
        raise FormatError(f"format features {bits & ~sum(FEATURE_BITS.values()):#x} are newer "
                          f"than this vaezip reads; upgrade vaezip")
    return frozenset(known), pos


def base_version(mode: int, scored: bool, frame: bool = False) -> int:
    """The version a version 8 file (short-named) or 9 frame (own model) stands for: what
    the same file or frame would otherwise declare (quantised: 6 if a record carries a
    score, else 3 in a file and 5 in a frame)."""
    if mode == MODE_QUANTISED:
        return SCORED_VERSION if scored else FRAME_VERSION if frame else CODED_VERSION
    if mode == MODE_LOSSLESS:
        return FRAME_VERSION if frame else EXACT_VERSION
    return NEAR_VERSION


def parse_payload(model: str, payload: bytes, label: str,
                  names: list[str] | None = None, own_model: bool = False) -> VzFile:
    """A coded payload (coded_payload's bytes) as a VzFile; names: a frame's member names,
    which its records leave out; own_model: the frame's tensor names its model."""
    frame = names is not None
    if len(payload) < CODED_HEADER:
        raise FormatError(f"{label}: coded data of {len(payload)} bytes is truncated")
    version, mode = payload[0] >> 4, payload[0] & 15
    flags, quality = payload[1] >> 4, payload[1] & 15
    check_version(version, label)
    declared = version
    try:
        features, start = declared_features(payload)
    except ValueError:
        raise FormatError(f"{label}: truncated or invalid feature set") from None
    except FormatError as exc:
        raise FormatError(f"{label}: {exc}") from None
    if version == FEATURES_VERSION and not features:
        raise FormatError(f"{label}: an empty feature set (version {version})")
    if SHORT_NAME in features and (frame or flags & FLAG_PACKED):
        raise FormatError(f"{label}: version {SHORT_VERSION} is for single files, not "
                          f"archives (a short model name)")
    if COMPACT_INDEX in features and (not frame or own_model):
        raise FormatError(f"{label}: version {COMPACT_INDEX_VERSION} is for the frames of an "
                          f"archive's own model (a compact index)")
    if own_model != (OWN_MODEL in features):
        raise FormatError(f"{label}: " + (
            f"a frame that names its own model must be version {OWN_MODEL_VERSION}, not "
            f"{version}, or declare it in a feature set" if own_model else
            f"version {OWN_MODEL_VERSION} is for archive frames that name their own model"))
    if flags & FLAG_POSITIONS and not own_model:
        raise FormatError(f"{label}: member positions in a version {version} payload "
                          f"(they came with version {OWN_MODEL_VERSION})")
    # Checked as the newest version of its mode (quantised: 6, so records may carry scores),
    # and stored as the version it stands for once the records are read (base_version).
    if features and mode in MODE_NAMES:
        version = base_version(mode, scored=True, frame=frame)
    if version < SCORED_VERSION and frame != (version == FRAME_VERSION):
        raise FormatError(f"{label}: version {version} coded data " + (
            "in a frame" if frame else "outside a framed archive"))
    if version < CODED_VERSION:
        raise FormatError(f"{label}: a single uint8 tensor, but version {version} is a "
                          f"float layout")
    if mode not in MODE_NAMES:
        raise FormatError(f"{label}: unknown coding mode {mode}")
    if (version == NEAR_VERSION) != (mode == MODE_NEAR):
        raise FormatError(f"{label}: mode {mode} in a version {version} payload (near-lossless "
                          f"data is mode {MODE_NEAR}, version {NEAR_VERSION})")
    if VISIBLE_ERROR in features and mode != MODE_NEAR:
        raise FormatError(f"{label}: the visible-error feature is for near-lossless data, "
                          f"not mode {mode}")
    if version == SCORED_VERSION and mode != MODE_QUANTISED:
        raise FormatError(f"{label}: version {version} holds quantised data only, not mode {mode}")
    if version == EXACT_VERSION and mode != MODE_LOSSLESS:
        raise FormatError(f"{label}: version {version} holds lossless data only, not mode {mode}")
    if flags & ~(FLAG_PACKED | FLAG_PLACEMENTS | FLAG_PLAIN | FLAG_POSITIONS) or (
            flags & FLAG_PLAIN and not flags & FLAG_PLACEMENTS):
        raise FormatError(f"{label}: unknown flags {flags:#04x}")
    (checksum,) = struct.unpack("<I", payload[2:6])
    body = payload[CODED_HEADER:]
    pos = start - CODED_HEADER

    def varint(what: str) -> int:
        nonlocal pos
        try:
            value, pos = read_uvarint(body, pos)
        except ValueError:
            raise FormatError(f"{label}: truncated or invalid {what}") from None
        return value

    count = varint("image count") if flags & FLAG_PACKED else 1
    if not 1 <= count <= 100_000_000 or (frame and count != len(names)):
        raise FormatError(f"{label}: invalid image count {count}")
    positions = None
    if flags & FLAG_POSITIONS:
        positions, last = [], -1
        for _ in range(count):
            last += varint("member positions") + 1
            positions.append(last)
    if flags & FLAG_PLACEMENTS:
        size = varint("placement length")
        if pos + size > len(body):
            raise FormatError(f"{label}: placement records run past the end (truncated)")
        text = body[pos : pos + size]
        if not flags & FLAG_PLAIN:
            inflate = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
            try:  # bounded: a small hostile payload must not inflate into gigabytes
                text = inflate.decompress(text, max_length=MAX_HEADER)
            except lzma.LZMAError:
                raise FormatError(f"{label}: placement records are damaged") from None
            if not inflate.eof:
                raise FormatError(f"{label}: placement records are truncated or too large")
        pos += size
        images = images_from_json({"images": text.decode("utf-8", "replace")}, count, label,
                         lone=not flags & FLAG_PACKED, names=names,
                         scores=version >= SCORED_VERSION, plain=PLAIN_FRAMES in features)
    elif frame:
        images = [Placement(name=name) for name in names]
    else:
        if count != 1:
            raise FormatError(f"{label}: an archive must carry placement records")
        images = [Placement(name=LONE_NAME)]
    if features:
        version = base_version(mode, any(p.nondigit is not None for p in images), frame)
    return VzFile(model, MODE_NAMES[mode], tuple(images), bool(flags & FLAG_PACKED),
                  version=version, quality=quality, checksum=checksum, body=bytes(body),
                  stream=bytes(body[pos:]), features=features, declared=declared,
                  positions=None if positions is None else tuple(positions))


def check_version(value, label: str) -> int:
    try:
        version = int(value)
    except (TypeError, ValueError):
        raise FormatError(f"{label}: invalid format version {value!r}") from None
    if version > FORMAT_VERSION:
        raise FormatError(
            f"{label}: format version {version} is newer than this vaezip reads "
            f"({FORMAT_VERSION}); upgrade vaezip"
        )
    if version < 1:
        raise FormatError(f"{label}: invalid format version {version}")
    return version
