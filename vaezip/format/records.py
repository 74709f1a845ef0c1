"""Placement records: how each image was brought into model space, as the JSON a .vz
file stores (fields at their default are left out), and validated on the way back in.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace

from vaezip.errors import FormatError
from vaezip.format.names import check_name
from vaezip.frames.digit import MAX_PIXELS, MODES, POLARITIES, SIDE, Placement

LONE_NAME = "image.png"  # a single image's stored name: it decodes to the .vz file's name
PLACEMENT_DEFAULTS = {f.name: f.default for f in fields(Placement) if f.name != "name"}


def placement_record(p: Placement) -> dict:
    record: dict = {"name": p.name}
    for key, default in PLACEMENT_DEFAULTS.items():
        value = getattr(p, key)
        if value != default:
            record[key] = list(value) if isinstance(value, tuple) else value
    return record



def images_from_json(meta: dict, n: int, label: str, lone: bool = False,
                     names: list[str] | None = None, scores: bool = False,
                     plain: bool = False) -> list[Placement]:
    """The placement records of meta["images"]; lone: one coded image, whose record
    carries no name (the .vz file names it); names: a frame's, whose records carry none;
    scores: whether records may carry a nondigit score (version 6 on); plain: records of
    plain framing (any size, no crop box: the model's frame says where the image sits)."""
    try:
        records = json.loads(meta.get("images", ""))
    except ValueError:
        raise FormatError(f"{label}: missing or invalid images metadata") from None
    if names is not None:
        if not (isinstance(records, list) and len(records) == len(names)
                and all(isinstance(r, dict) and "name" not in r for r in records)):
            raise FormatError(f"{label}: a frame needs {len(names)} records, without names")
        records = [{"name": name, **r} for name, r in zip(names, records, strict=True)]
    if lone:
        if not (isinstance(records, list) and len(records) == 1
                and isinstance(records[0], dict) and "name" not in records[0]):
            raise FormatError(f"{label}: a single image needs one record, without a name")
        records = [{"name": LONE_NAME, **records[0]}]
    if not isinstance(records, list) or len(records) != n:
        raise FormatError(f"{label}: images metadata must list {n} images")
    images = [_placement(r, f"{label}: image {i}", scores, plain)
              for i, r in enumerate(records)]
    names = [p.name for p in images]
    if len(set(names)) != len(names):
        raise FormatError(f"{label}: duplicate image names")
    return images


def _int(record: dict, key: str, low: int, high: int, where: str) -> int:
    value = record[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FormatError(f"{where}: {key} must be an integer in [{low}, {high}], not {value!r}")
    return value


def _placement(record, where: str, scores: bool = False, plain: bool = False) -> Placement:
    if not isinstance(record, dict):
        raise FormatError(f"{where}: not a JSON object")
    unknown = set(record) - {"name", *PLACEMENT_DEFAULTS} | (
        set() if scores else set(record) & {"nondigit"})  # a score needs format 6
    if unknown:
        raise FormatError(f"{where}: unknown fields {sorted(unknown)}")
    r = {**{k: list(v) if isinstance(v, tuple) else v for k, v in PLACEMENT_DEFAULTS.items()},
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
    if plain:
        if box is not None or offset != [0, 0] or r["polarity"] != PLACEMENT_DEFAULTS[
                "polarity"]:
            raise FormatError(f"{where}: a plain-framed image has no crop box, offset or "
                              f"polarity")
    elif box is None:
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
    nondigit = r["nondigit"]
    if nondigit is not None:  # stored only where the encoder warned: above 1.00
        nondigit = _int(r, "nondigit", 101, 10**12, where)
    placement = Placement(name=name, width=width, height=height, mode=r["mode"],
                          polarity=r["polarity"], background=background, ink=ink, box=box,
                          offset=(0, 0), digit=digit, nondigit=nondigit)
    if plain:
        return placement
    sw, sh = placement.scaled_size
    dx = _int(dict(x=offset[0]), "x", 0, SIDE - sw, where)
    dy = _int(dict(y=offset[1]), "y", 0, SIDE - sh, where)
    return replace(placement, offset=(dx, dy))
