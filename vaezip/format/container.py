"""The .vz container: write, read, validate. numpy only; see docs/FORMAT.md.

It knows the layout of the bytes, not what they mean: a codec (vaezip.codecs) makes the
payload and turns it back into latents or pixels; this module frames it, with the model's
name, the placement records and a checksum, and reads it back into an immutable VzFile.

A .vz file is a safetensors file in one of two layouts.

Float (versions 1-2, `encode --float`):
  tensors   mu, sigma: float16 [N, K], the posterior of each of N images (sigma = 0: a
            point code, as the autoencoder makes)
  metadata  vaezip = format version; model = registry name; sha256 = first 12 hex
            digits of the model's weights hash; images = JSON list of N placements
            (how each image was brought into model space; defaults left out);
            packed = "1" for an archive (decodes into a directory)

Coded (version 3; 4 exact lossless, 6 with nondigit scores, 7 near-lossless; 8, what
single files are now, any of those with a shipped model named by a one-letter alias):
one uint8 tensor named after the model (or its alias), holding a coded payload
(payload.py), and no metadata block (a JSON metadata block alone would cost more than the
code of a digit).

We write the container ourselves, header JSON in a fixed order, so that the same input
gives the same bytes (the safetensors writer orders metadata by hash map). Reading
goes through the safetensors library; every field is checked before anything is used.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from vaezip.errors import FormatError
from vaezip.format.binary import (
    LENGTH,
    header_bytes,
    header_length,
    parse_header,
)
from vaezip.format.names import SHORT_NAME_OF, SHORT_NAMES, is_model_name
from vaezip.format.payload import (
    CODED_VERSION,
    FLOAT_VERSION,
    FORMAT_KEY,
    HASH_CHARS,
    MODE_FLOAT,
    SHORT_NAME,
    SHORT_VERSION,
    VzFile,
    check_version,
    coded_payload,
    declared_features,
    parse_payload,
)
from vaezip.format.records import images_from_json, placement_record
from vaezip.frames.digit import Placement

DTYPES = {"F16": np.float16, "F32": np.float32}


# --- writing -------------------------------------------------------------------------


def dumps_float(model: str, model_hash: str, mu: np.ndarray, sigma: np.ndarray,
                images: list[Placement], packed: bool) -> bytes:
    """The bytes of a float-layout .vz file: same arguments, same bytes."""
    mu = np.ascontiguousarray(mu, dtype=np.float16)
    sigma = np.ascontiguousarray(sigma, dtype=np.float16)
    if mu.shape != sigma.shape or mu.ndim != 2 or mu.shape[0] != len(images):
        raise ValueError(f"mu {mu.shape}, sigma {sigma.shape} and {len(images)} images")
    labelled = any(p.digit is not None for p in images)
    metadata = {
        # The lowest version that can read it: files without labels stay readable by v1.
        FORMAT_KEY: str(FLOAT_VERSION if labelled else 1),
        "model": model,
        "sha256": model_hash[:HASH_CHARS],
        # The float layout keeps its versions 1-2: it does not store nondigit scores.
        "images": json.dumps([placement_record(replace(p, nondigit=None)) for p in images],
                             separators=(",", ":"), ensure_ascii=False),
    }
    if packed:
        metadata["packed"] = "1"
    shape = list(mu.shape)
    header = {
        "__metadata__": metadata,
        "mu": {"dtype": "F16", "shape": shape, "data_offsets": [0, mu.nbytes]},
        "sigma": {"dtype": "F16", "shape": shape,
                  "data_offsets": [mu.nbytes, mu.nbytes + sigma.nbytes]},
    }
    return header_bytes(header, ascii_only=False) + mu.tobytes() + sigma.tobytes()


def dumps_coded(model: str, model_hash: str, check: bytes, quality: int,
                images: list[Placement], packed: bool, stream: bytes,
                mode: str = "quantised", version: int = CODED_VERSION,
                features: frozenset[str] = frozenset()) -> bytes:
    """The bytes of a coded .vz file (versions 3-8) holding an ANS stream of len(images)
    images: one uint8 tensor, named after the model (a single file of a shipped model: by
    its alias, version 8), holding coded_payload."""
    short = None if packed else SHORT_NAME_OF.get(model)
    payload = coded_payload(model_hash, check, quality, images, stream, mode, version,
                            packed=packed,
                            features=features | ({SHORT_NAME} if short else set()))
    header = {short or model: {"dtype": "U8", "shape": [len(payload)],
                      "data_offsets": [0, len(payload)]}}
    return header_bytes(header) + payload


# --- reading -------------------------------------------------------------------------


def frame_number(tensor: str) -> int | None:
    """The frame number of an archive tensor's name ("3", or "3:model" in version 9)."""
    number = tensor.split(":", 1)[0]
    return int(number) if number.isdigit() and number.isascii() else None


def is_framed(header: dict) -> bool:
    """A framed archive's header (format/archive.py): no metadata, frames numbered 0 .. n-2, and
    one more tensor, the index, named after the model."""
    if not isinstance(header, dict) or "__metadata__" in header or len(header) < 2:
        return False
    numbers = {frame_number(name) for name in header}
    return numbers.issuperset(range(len(header) - 1))


def is_framed_bytes(data: bytes) -> bool:
    """Whether data is a framed archive (by its header alone)."""
    header = parse_header(data)
    return header is not None and is_framed(header)


def sniff(data: bytes) -> bool:
    """Whether data looks like a .vz file (its header names a model or vaezip metadata),
    without validating it: to tell a .vz given as an image from an image."""
    header = parse_header(data)
    if header is None:
        return False
    meta = header.get("__metadata__")
    if isinstance(meta, dict):
        return FORMAT_KEY in meta
    return (len(header) == 1 or is_framed(header)) and all(
        isinstance(t, dict) and t.get("dtype") == "U8" for t in header.values())


# The signatures of the images people hand to `decode` by mistake.
_IMAGE_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
                (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def loads(data: bytes, label: str) -> VzFile:
    """Parse and validate a .vz file; any problem is a FormatError naming it."""
    if not data:
        raise FormatError(f"{label}: empty file")
    kind = next((k for magic, k in _IMAGE_MAGIC if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "WebP"
    if kind:
        raise FormatError(f"{label}: not a .vz file but a {kind} image (vaezip encode "
                          f"compresses images into .vz files)")
    if len(data) < 8:
        raise FormatError(f"{label}: truncated ({len(data)} bytes) or not a .vz file")
    header_len = header_length(data, len(data) - 8)
    if header_len is None:
        raise FormatError(
            f"{label}: header length {LENGTH.unpack_from(data)[0]} points past the end of the "
            f"file ({len(data)} bytes): truncated or not a .vz file"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, ValueError):
        raise FormatError(f"{label}: not a .vz file (header is not safetensors JSON)") from None
    if not isinstance(header, dict):
        raise FormatError(f"{label}: not a .vz file (header is not a JSON object)")
    if is_framed(header):
        raise FormatError(f"{label}: a framed archive: open it with archive.ArchiveReader")
    meta = header.get("__metadata__")
    coded = meta is None and len(header) == 1 and all(
        isinstance(t, dict) and t.get("dtype") == "U8" for t in header.values())
    if not coded and (not isinstance(meta, dict) or FORMAT_KEY not in meta):
        raise FormatError(f"{label}: a safetensors file, but not a .vz file (no vaezip metadata)")
    if not coded:
        check_version(meta[FORMAT_KEY], label)
    _check_body_length(header, len(data) - 8 - header_len, label)

    from safetensors.numpy import load

    try:
        tensors = load(bytes(data))
    except Exception as exc:  # the library's own errors: bad offsets, dtypes, overlap...
        raise FormatError(f"{label}: invalid safetensors data ({exc})") from None
    if coded:
        return _load_coded(tensors, label)
    if int(meta[FORMAT_KEY]) > FLOAT_VERSION:
        raise FormatError(f"{label}: version {meta[FORMAT_KEY]} files are coded, but this "
                          f"one has float tensors")
    mu, sigma = _latents(header, tensors, label)
    images = images_from_json(meta, len(mu), label)
    model = meta.get("model")
    model_hash = meta.get("sha256")
    if not is_model_name(model):
        raise FormatError(f"{label}: missing or invalid model name {model!r}")
    if not (isinstance(model_hash, str) and len(model_hash) == HASH_CHARS
            and all(c in "0123456789abcdef" for c in model_hash)):
        raise FormatError(f"{label}: missing or invalid sha256 (the model's weights hash)")
    packed = meta.get("packed", "0")
    if packed not in ("0", "1"):
        raise FormatError(f"{label}: invalid packed flag {packed!r}")
    return VzFile(model, MODE_FLOAT, tuple(images), packed == "1", model_hash,
                  int(meta[FORMAT_KEY]), mu, sigma)


def _load_coded(tensors: dict, label: str) -> VzFile:
    ((model, array),) = tensors.items()
    payload = array.tobytes() if array.ndim == 1 else b""
    try:
        short = SHORT_NAME in declared_features(payload)[0]
    except (ValueError, FormatError):
        short = False  # parse_payload says what is wrong
    if short != (model in SHORT_NAMES):
        raise FormatError(f"{label}: " + (
            f"a version {SHORT_VERSION} file must name its model by a short alias, not "
            f"{model!r}" if short else f"model alias {model!r} in a version "
            f"{payload[0] >> 4 if payload else '?'} file (aliases came with version "
            f"{SHORT_VERSION})"))
    if not short and not is_model_name(model):
        raise FormatError(f"{label}: missing or invalid model name {model!r}")
    return parse_payload(SHORT_NAMES.get(model, model), payload, label)


def _check_body_length(header: dict, body: int, label: str) -> None:
    ends = [t.get("data_offsets", [0, 0])[1] for k, t in header.items()
            if k != "__metadata__" and isinstance(t, dict)
            and isinstance(t.get("data_offsets"), list) and len(t["data_offsets"]) == 2]
    need = max([e for e in ends if isinstance(e, int)], default=0)
    if need > body:
        raise FormatError(f"{label}: truncated (tensor data has {body} of {need} bytes)")


def _latents(header: dict, tensors: dict, label: str) -> tuple[np.ndarray, np.ndarray]:
    if set(tensors) != {"mu", "sigma"}:
        raise FormatError(f"{label}: expected tensors mu and sigma, found {sorted(tensors)}")
    for name in ("mu", "sigma"):
        if header[name].get("dtype") not in DTYPES:
            raise FormatError(f"{label}: {name} has dtype {header[name].get('dtype')}, "
                              f"not F16 or F32")
    mu, sigma = tensors["mu"], tensors["sigma"]
    if mu.ndim != 2 or mu.shape != sigma.shape or 0 in mu.shape:
        raise FormatError(f"{label}: mu {list(mu.shape)} and sigma {list(sigma.shape)} "
                          f"must both be [N, K] with N, K >= 1")
    mu, sigma = mu.astype(np.float32), sigma.astype(np.float32)
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise FormatError(f"{label}: mu or sigma holds NaN or Inf")
    if (sigma < 0).any():
        raise FormatError(f"{label}: sigma must not be negative")
    return mu, sigma
