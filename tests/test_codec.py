import json
import struct

import numpy as np
import pytest
from conftest import HASH, dumps, make_vz, rewrite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaezip.errors import FormatError
from vaezip.format import container as codec
from vaezip.format import payload
from vaezip.format.names import SHORT_NAMES, is_model_name
from vaezip.frames.digit import Placement


def test_round_trip_and_determinism():
    vz = make_vz(3, box=(3, 4, 100, 80), width=200, height=120, offset=(4, 7),
                 polarity="dark-on-light", background=240, ink=20)
    data = dumps(vz)
    assert dumps(vz) == data
    back = codec.loads(data, "x.vz")
    assert list(back.images) == vz.images and back.packed and back.model == vz.model
    assert back.model_hash == HASH[: payload.HASH_CHARS]
    np.testing.assert_array_equal(back.mu, vz.mu.astype(np.float16).astype(np.float32))


def test_the_header_stays_lean():
    """float16 mu and sigma (64 B) plus safetensors' own tensor entries (~110 B) are the
    floor; everything else is the metadata, which must not grow unnoticed."""
    data = dumps(make_vz(1))
    assert len(data) <= 306
    (n,) = struct.unpack("<Q", data[:8])
    assert json.loads(data[8 : 8 + n])["__metadata__"]["images"] == '[{"name":"d0.png"}]'
    packed = dumps(make_vz(1000))
    assert len(packed) / 1000 < 90  # 64 B of latents + ~25 B of name per digit


def test_the_file_is_plain_safetensors():
    from safetensors.numpy import load

    tensors = load(dumps(make_vz(2)))
    assert set(tensors) == {"mu", "sigma"} and tensors["mu"].dtype == np.float16


def _bad(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        codec.loads(data, "bad.vz")


def test_structural_damage_is_named():
    good = dumps(make_vz(2))
    _bad(b"", "empty file")
    _bad(b"\x01\x02", "truncated")
    _bad(struct.pack("<Q", 10_000) + b"{}", "points past the end")
    _bad(struct.pack("<Q", 4) + b"nope", "not safetensors JSON")
    _bad(good[:-10], "truncated")
    import pickle  # to build a hostile file, never to read one

    _bad(pickle.dumps({"mu": [1.0]}), "past the end|not a .vz|truncated")


@pytest.mark.parametrize("edit, message", [
    (lambda h: h.pop("__metadata__"), "not a .vz file"),
    (lambda h: h["__metadata__"].update(vaezip=str(payload.FORMAT_VERSION + 1)),
     "newer than this vaezip reads"),
    (lambda h: h["__metadata__"].update(vaezip="one"), "invalid format version"),
    (lambda h: h["__metadata__"].update(model="../../etc/passwd"), "invalid model name"),
    (lambda h: h["__metadata__"].pop("model"), "invalid model name"),
    (lambda h: h["__metadata__"].update(sha256="xyz"), "sha256"),
    (lambda h: h["__metadata__"].pop("images"), "images metadata"),
    (lambda h: h["__metadata__"].update(images="[]"), "must list 2 images"),
    (lambda h: h["__metadata__"].update(images='[{"name":"a"},{"name":"a"}]'), "duplicate"),
    (lambda h: h["__metadata__"].update(images='[{"name":"../x"},{"name":"a"}]'), "unsafe"),
    (lambda h: h["__metadata__"].update(images='[{"name":"/etc/x"},{"name":"a"}]'), "unsafe"),
    (lambda h: h["__metadata__"].update(images='[{"name":"a","evil":1},{"name":"b"}]'),
     "unknown fields"),
    (lambda h: h["__metadata__"].update(images='[{"name":"a","mode":"CMYK"},{"name":"b"}]'),
     "mode"),
    (lambda h: h["__metadata__"].update(
        images='[{"name":"a","width":50,"height":50,"box":[40,40,20,20]},{"name":"b"}]'),
     "outside"),
    (lambda h: h["__metadata__"].update(
        images='[{"name":"a","width":99999,"height":99999,"box":[0,0,9,9]},{"name":"b"}]'),
     "pixel limit"),
    (lambda h: h["__metadata__"].update(images='[{"name":"a","width":50},{"name":"b"}]'),
     "without a crop box"),
    (lambda h: h["mu"].update(shape=[4, 8]), "mu .* and sigma"),
    (lambda h: h["mu"].update(dtype="I16"), "dtype"),
])
def test_metadata_and_shape_damage_is_named(edit, message):
    _bad(rewrite(dumps(make_vz(2)), edit), message)


def test_nan_inf_and_negative_sigma_are_refused():
    for field, value, message in (("mu", np.nan, "NaN or Inf"), ("sigma", np.inf, "NaN or Inf"),
                                  ("sigma", -0.5, "negative")):
        vz = make_vz(2)
        getattr(vz, field)[1, 3] = value
        _bad(dumps(vz), message)


def make_coded(n=1, model="my-vae-16d", **placement) -> bytes:
    """A coded file of a user's model (no short alias: versions 3-7)."""
    vz = make_vz(n, **placement)
    return codec.dumps_coded(model, HASH, b"grid", 4, vz.images, vz.packed,
                             stream=bytes(range(7, 7 + 9 * n)))


VALID = [dumps(make_vz(1)), dumps(make_vz(3, width=64, height=48,
                                                       box=(1, 2, 30, 40), offset=(6, 4))),
         make_coded(1), make_coded(4, digit=3), make_coded(1, width=40, height=30,
                                                           box=(1, 2, 30, 20), offset=(4, 7))]


def test_coded_layout_round_trip():
    single = codec.loads(make_coded(1), "one.vz")
    assert single.model == "my-vae-16d" and single.mu is None and not single.packed
    assert single.quality == 4 and single.stream == bytes(range(7, 16))
    assert single.checksum_matches(HASH[:12], b"grid")
    assert not single.checksum_matches(HASH[:12], b"grix")
    assert single.images[0] == Placement(name="image.png")  # nothing stored for a plain digit
    assert len(make_coded(1)) == 8 + 64 + 6 + 9  # length, JSON header, binary header, code
    archive = codec.loads(make_coded(4, digit=3), "all.vz")
    assert archive.packed and [p.name for p in archive.images] == [f"d{i}.png" for i in range(4)]
    assert all(p.digit == 3 for p in archive.images)
    placed = codec.loads(VALID[-1], "placed.vz").images[0]
    assert placed.box == (1, 2, 30, 20) and placed.name == "image.png"  # named by the file
    assert b"d0.png" not in VALID[-1] and b'"box":[1,2,30,20]' in VALID[-1]  # plain: shorter
    assert b"d0.png" not in make_coded(1, digit=7) and codec.loads(
        make_coded(1, digit=7), "x.vz").images[0].digit == 7


def test_single_files_of_shipped_models_name_them_by_alias():
    """Format 8: one upper-case letter instead of the registry name saves 13 header bytes
    (of ~97 for a digit); it is read as the version the full name would declare."""
    short = make_coded(1, model="mnist-vae-16d")
    assert b'{"V":' in short and short[8 + struct.unpack("<Q", short[:8])[0]] >> 4 == 8
    assert len(short) == len(make_coded(1, model="mnist-vae-xyz")) - 12
    vz = codec.loads(short, "one.vz")
    assert (vz.model, vz.version, vz.declared_version, vz.short_name) == (
        "mnist-vae-16d", 3, 8, True)
    assert vz.checksum_matches(HASH[:12], b"grid")
    # Archives keep the full name; every alias names a valid registry name, and no alias is one.
    assert b'"mnist-vae-16d"' in make_coded(4, model="mnist-vae-16d", digit=3)
    assert all(is_model_name(m) and not is_model_name(a) for a, m in SHORT_NAMES.items())


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.replace(b'{"V":', b'{"Z":'), "must name its model by a short alias"),
    (lambda d: d.replace(b'{"V":', b'{"v":'), "must name its model by a short alias"),
])
def test_short_names_are_validated(edit, message):
    _bad(edit(make_coded(1, model="mnist-vae-16d")), message)


def test_an_alias_needs_version_8_and_version_8_a_single_file():
    data = bytearray(make_coded(1, model="mnist-vae-16d"))
    header = 8 + struct.unpack("<Q", data[:8])[0]
    data[header] = 3 << 4
    _bad(bytes(data), "model alias 'V' in a version 3 file")
    data[header], data[header + 1] = 8 << 4, (1 | 2) << 4 | 4  # flagged as an archive
    _bad(bytes(data), "version 8 is for single files")


@pytest.mark.parametrize("offset, value, message", [
    (0, (payload.FORMAT_VERSION + 1) << 4, "newer than this vaezip reads"),
    (0, 3 << 4 | 3, "unknown coding mode"),
    (0, 3 << 4 | 2, "near-lossless data is mode 2, version 7"),
    (0, 4 << 4 | 0, "version 4 holds lossless data only"),
    (1, 8 << 4 | 4, "member positions in a version 3 payload"),
    (0, 9 << 4, "version 9 is for archive frames that name their own model"),
    (1, 4 << 4 | 4, "unknown flags"),  # plain records, but no records
    (1, 1 << 4 | 4, "must carry placement records"),
])
def test_coded_header_fields_are_validated(offset, value, message):
    data = bytearray(make_coded(1))
    header = 8 + struct.unpack("<Q", data[:8])[0]
    data[header + offset] = value
    _bad(bytes(data), message)
    _bad(make_coded(1)[: header + 5], "truncated")


@st.composite
def damaged(draw):
    data = bytearray(draw(st.sampled_from(VALID)))
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "random"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "splice":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=16))
    else:
        data = bytearray(draw(st.binary(max_size=400)))
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_files_give_a_format_error_or_a_valid_file(data):
    try:
        vz = codec.loads(data, "fuzz.vz")
    except FormatError as exc:
        assert "\n" not in str(exc)
        return
    if vz.mode != "float":  # latents come after the checksum, in the codec's decode
        assert vz.mu is None and len(vz) >= 1
        return
    assert np.isfinite(vz.mu).all() and (vz.sigma >= 0).all() and len(vz) == len(vz.mu)
