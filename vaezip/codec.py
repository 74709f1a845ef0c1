"""The .vz file format: write, read, validate. numpy only; see docs/FORMAT.md.

A .vz file is a safetensors file:
  tensors   mu, sigma: float16 [N, K], the posterior of each of N images (sigma = 0: a
            point code, as the autoencoder makes)
  metadata  vaezip = format version; model = registry name; sha256 = first 12 hex
            digits of the model's weights hash; images = JSON list of N placements
            (how each image was brought into model space; defaults left out);
            packed = "1" for an archive (decodes into a directory)
We write the container ourselves, header JSON in a fixed order, so that the same input
gives the same bytes (the safetensors writer orders metadata by hash map). Reading
goes through the safetensors library; every field is checked before anything is used.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, fields, replace

import numpy as np

from vaezip.errors import FormatError
from vaezip.imaging import MAX_PIXELS, MODES, POLARITIES, SIDE, Placement

FORMAT_KEY = "vaezip"
FORMAT_VERSION = 2  # 2: images may carry a "digit" (conditional models); else written as 1
HASH_CHARS = 12  # 48 bits of the weights hash: plenty to tell versions of a model apart
DTYPES = {"F16": np.float16, "F32": np.float32}
MAX_HEADER = 100_000_000  # bytes; a packed archive of 1M images has a ~50 MB header
_PLACEMENT_DEFAULTS = {f.name: f.default for f in fields(Placement) if f.name != "name"}


@dataclass
class VzFile:
    model: str
    model_hash: str
    mu: np.ndarray  # float32 [N, K]
    sigma: np.ndarray  # float32 [N, K]
    images: list[Placement]
    packed: bool = False

    def __len__(self) -> int:
        return len(self.images)


# --- writing -------------------------------------------------------------------------


def _placement_record(p: Placement) -> dict:
    record: dict = {"name": p.name}
    for key, default in _PLACEMENT_DEFAULTS.items():
        value = getattr(p, key)
        if value != default:
            record[key] = list(value) if isinstance(value, tuple) else value
    return record


def dumps(vz: VzFile) -> bytes:
    """The bytes of a .vz file: same VzFile, same bytes."""
    mu = np.ascontiguousarray(vz.mu, dtype=np.float16)
    sigma = np.ascontiguousarray(vz.sigma, dtype=np.float16)
    if mu.shape != sigma.shape or mu.ndim != 2 or mu.shape[0] != len(vz.images):
        raise ValueError(f"mu {mu.shape}, sigma {sigma.shape} and {len(vz.images)} images")
    labelled = any(p.digit is not None for p in vz.images)
    metadata = {
        # The lowest version that can read it: files without labels stay readable by v1.
        FORMAT_KEY: str(FORMAT_VERSION if labelled else 1),
        "model": vz.model,
        "sha256": vz.model_hash[:HASH_CHARS],
        "images": json.dumps([_placement_record(p) for p in vz.images],
                             separators=(",", ":"), ensure_ascii=False),
    }
    if vz.packed:
        metadata["packed"] = "1"
    shape = list(mu.shape)
    header = {
        "__metadata__": metadata,
        "mu": {"dtype": "F16", "shape": shape, "data_offsets": [0, mu.nbytes]},
        "sigma": {"dtype": "F16", "shape": shape,
                  "data_offsets": [mu.nbytes, mu.nbytes + sigma.nbytes]},
    }
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return struct.pack("<Q", len(text)) + text + mu.tobytes() + sigma.tobytes()


# --- reading -------------------------------------------------------------------------


def loads(data: bytes, label: str) -> VzFile:
    """Parse and validate a .vz file; any problem is a FormatError naming it."""
    if not data:
        raise FormatError(f"{label}: empty file")
    if len(data) < 8:
        raise FormatError(f"{label}: truncated ({len(data)} bytes) or not a .vz file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8 or header_len > MAX_HEADER:
        raise FormatError(
            f"{label}: header length {header_len} points past the end of the file "
            f"({len(data)} bytes): truncated or not a .vz file"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, ValueError):
        raise FormatError(f"{label}: not a .vz file (header is not safetensors JSON)") from None
    if not isinstance(header, dict):
        raise FormatError(f"{label}: not a .vz file (header is not a JSON object)")
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or FORMAT_KEY not in meta:
        raise FormatError(f"{label}: a safetensors file, but not a .vz file (no vaezip metadata)")
    _check_version(meta[FORMAT_KEY], label)  # one version so far; later ones branch on it
    _check_body_length(header, len(data) - 8 - header_len, label)

    from safetensors.numpy import load

    try:
        tensors = load(bytes(data))
    except Exception as exc:  # the library's own errors: bad offsets, dtypes, overlap...
        raise FormatError(f"{label}: invalid safetensors data ({exc})") from None
    mu, sigma = _latents(header, tensors, label)
    images = _images(meta, len(mu), label)
    model = meta.get("model")
    model_hash = meta.get("sha256")
    from vaezip.registry import NAME_RE

    if not isinstance(model, str) or not NAME_RE.match(model) or len(model) > 64:
        raise FormatError(f"{label}: missing or invalid model name {model!r}")
    if not (isinstance(model_hash, str) and len(model_hash) == HASH_CHARS
            and all(c in "0123456789abcdef" for c in model_hash)):
        raise FormatError(f"{label}: missing or invalid sha256 (the model's weights hash)")
    packed = meta.get("packed", "0")
    if packed not in ("0", "1"):
        raise FormatError(f"{label}: invalid packed flag {packed!r}")
    return VzFile(model, model_hash, mu, sigma, images, packed == "1")


def _check_version(value, label: str) -> int:
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


def _images(meta: dict, n: int, label: str) -> list[Placement]:
    try:
        records = json.loads(meta.get("images", ""))
    except ValueError:
        raise FormatError(f"{label}: missing or invalid images metadata") from None
    if not isinstance(records, list) or len(records) != n:
        raise FormatError(f"{label}: images metadata must list {n} images")
    images = [_placement(r, f"{label}: image {i}") for i, r in enumerate(records)]
    names = [p.name for p in images]
    if len(set(names)) != len(names):
        raise FormatError(f"{label}: duplicate image names")
    return images


def check_name(name, where: str) -> str:
    """A stored file name must be a plain relative path: it becomes a path on decode."""
    bad = (not isinstance(name, str) or not name or len(name) > 1024 or name.startswith("/")
           or "\\" in name or any(ord(c) < 32 for c in name)
           or any(part in ("", ".", "..") for part in name.split("/")))
    if bad:
        raise FormatError(f"{where}: unsafe or invalid file name {name!r}")
    return name


def _int(record: dict, key: str, low: int, high: int, where: str) -> int:
    value = record[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FormatError(f"{where}: {key} must be an integer in [{low}, {high}], not {value!r}")
    return value


def _placement(record, where: str) -> Placement:
    if not isinstance(record, dict):
        raise FormatError(f"{where}: not a JSON object")
    unknown = set(record) - {"name", *_PLACEMENT_DEFAULTS}
    if unknown:
        raise FormatError(f"{where}: unknown fields {sorted(unknown)}")
    r = {**{k: list(v) if isinstance(v, tuple) else v for k, v in _PLACEMENT_DEFAULTS.items()},
         **record}
    name = check_name(r.get("name"), where)
    width = _int(r, "width", 1, MAX_PIXELS, where)
    height = _int(r, "height", 1, MAX_PIXELS, where)
    if width * height > MAX_PIXELS:
        raise FormatError(f"{where}: {width}x{height} is over the {MAX_PIXELS:,}-pixel limit")
    if r["mode"] not in MODES:
        raise FormatError(f"{where}: mode must be one of {', '.join(MODES)}")
    if r["polarity"] not in POLARITIES:
        raise FormatError(f"{where}: polarity must be one of {', '.join(POLARITIES)}")
    background = _int(r, "background", 0, 255, where)
    ink = _int(r, "ink", 0, 255, where)
    box = r["box"]
    offset = r["offset"]
    if not (isinstance(offset, list) and len(offset) == 2):
        raise FormatError(f"{where}: offset must be [x, y]")
    if box is None:
        if (width, height) != (SIDE, SIDE) or offset != [0, 0]:
            raise FormatError(f"{where}: an image without a crop box must be {SIDE}x{SIDE}")
    else:
        if not (isinstance(box, list) and len(box) == 4):
            raise FormatError(f"{where}: box must be [x, y, w, h]")
        x0, y0, bw, bh = (_int(dict(zip("xywh", box, strict=True)), k, lo, hi, where)
                          for k, lo, hi in (("x", 0, width - 1), ("y", 0, height - 1),
                                            ("w", 1, width), ("h", 1, height)))
        if x0 + bw > width or y0 + bh > height:
            raise FormatError(f"{where}: box {box} lies outside the {width}x{height} image")
        box = (x0, y0, bw, bh)
    digit = r["digit"]
    if digit is not None:
        digit = _int(r, "digit", 0, 255, where)
    placement = Placement(name=name, width=width, height=height, mode=r["mode"],
                          polarity=r["polarity"], background=background, ink=ink, box=box,
                          offset=(0, 0), digit=digit)
    sw, sh = placement.scaled_size
    dx = _int(dict(x=offset[0]), "x", 0, SIDE - sw, where)
    dy = _int(dict(y=offset[1]), "y", 0, SIDE - sh, where)
    return replace(placement, offset=(dx, dy))
