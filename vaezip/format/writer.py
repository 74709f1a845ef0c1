"""The one writer of coded .vz bytes: single files and archive frames, from a codec's
payloads. A codec (vaezip.codecs) turns a batch into payloads and back; this module frames
them with the model's name, the placement records, the format version of the mode and
the checksum. It uses a codec's public face only: its model's name and hash, its mode
and quality, encode / encode_each, and check_state (what the checksum covers).
"""

from __future__ import annotations

from vaezip.format.container import dumps_coded, dumps_float
from vaezip.format.payload import (
    CODED_VERSION,
    COMPACT_INDEX,
    EXACT_VERSION,
    FRAME_VERSION,
    MODE_FLOAT,
    NEAR_VERSION,
    OWN_MODEL,
    PLAIN_FRAMES,
    coded_payload,
)
from vaezip.frames.framing import stored

# The version each mode's payload is checked as (the version nibble may say more: a short
# model name, an own-model frame, a compact index; payload.py), in a single file and in
# an archive frame.
FILE_VERSION = {"quantised": CODED_VERSION, "lossless": EXACT_VERSION,
                "near-lossless": NEAR_VERSION}
FRAME_VERSIONS = {"quantised": FRAME_VERSION, "lossless": FRAME_VERSION,
                  "near-lossless": NEAR_VERSION}


def file_bytes(codec, batch, packed: bool) -> bytes:
    """The whole .vz file of a batch: one image, or a packed file of several (the float
    layout's archives; coded archives are framed, format/archive.py)."""
    return _file(codec, batch, codec.encode(batch), packed)


def single_files(codec, batch) -> list[bytes]:
    """A single-image .vz file for each image of the batch (the codecs run their networks
    once for the whole batch, not once per file)."""
    return [_file(codec, batch[i : i + 1], payload, False)
            for i, payload in enumerate(codec.encode_each(batch))]


def frame_bytes(codec, batch, own_model: bool = False,
                positions: list[int] | None = None) -> bytes:
    """One frame of a framed archive: the batch's coded payload, with the members' names
    left to the archive's index. Its checksum covers its bytes and the codec state that
    decides how they decode. own_model: a frame of a model other than the archive's, with
    its members' positions (version 9); the archive's own frames are version 10 (the
    index is compact)."""
    payload = codec.encode(batch)
    features = {OWN_MODEL if own_model else COMPACT_INDEX} | payload_features(codec)
    return coded_payload(
        codec.model.sha256, codec.check_state(), codec.quality, _records(codec, batch),
        payload.stream, codec.mode, FRAME_VERSIONS[codec.mode], packed=True, named=False,
        features=frozenset(features), positions=positions)


def _records(codec, batch) -> list:
    return [stored(codec.model.config, p) for p in batch.images]


def payload_features(codec) -> set[str]:
    """The format features that every payload of codec's uses: plain frames for a model
    that does not use the digit framing, and what the codec's mode adds (visible-error)."""
    return set(codec.features) | (
        set() if codec.model.config.framing == "digit" else {PLAIN_FRAMES})


def _file(codec, batch, payload, packed: bool) -> bytes:
    model, images = codec.model, _records(codec, batch)
    if codec.mode == MODE_FLOAT:
        return dumps_float(model.name, model.sha256, payload.mu, payload.sigma, images, packed)
    return dumps_coded(model.name, model.sha256, payload.check, codec.quality, images, packed,
                       payload.stream, mode=codec.mode, version=FILE_VERSION[codec.mode],
                       features=frozenset(payload_features(codec)))
