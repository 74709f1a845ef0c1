"""The identity guard (issue 18): digits whose lossy decoding may read as another digit are
coded near-lossless, in single files and in archives (format 9 frames that name their own
model and keep input order)."""

import json
import struct

import numpy as np
import pytest
from conftest import MINI
from PIL import Image

import vaezip
from vaezip.codecs.guard import FALLBACK_MODEL, guard_path, load_guard
from vaezip.errors import FormatError
from vaezip.format import archive, container, payload
from vaezip.frames.digit import Placement
from vaezip.models import registry

# Of the mini set's first 130 test digits, the shipped guard flags these (their -Q 2
# decodings move its reader's labels past the threshold).
FLAGGED = [18, 62, 92, 126]


@pytest.fixture(scope="module")
def digits():
    with np.load(MINI) as mini:
        return mini["test_images"][:130]


def _within(image, original, levels):
    return np.abs(np.asarray(image, np.int32) - original.astype(np.int32)).max() <= levels


def test_the_shipped_guard_flags_the_digits_at_risk(digits):
    from vaezip.codecs import Batch
    from vaezip.pipeline import EncodeOptions

    options = EncodeOptions()
    codec = options.codec()
    plan = options.guard_plan(codec)
    pixels = digits.reshape(len(digits), -1).astype(np.float32) / 255
    flags = plan.flags(codec, Batch(pixels, tuple(
        Placement(name=f"{i}.png") for i in range(len(pixels)))))
    assert np.flatnonzero(flags).tolist() == FLAGGED
    assert plan.guard.moved(pixels, pixels).max() == 0
    assert EncodeOptions(guard=False).guard_plan(codec) is None
    assert EncodeOptions(lossless=True).guard_plan(EncodeOptions(lossless=True).codec()) is None


def test_guarded_archives_keep_input_order_and_bound_the_guarded_digits(digits):
    data = vaezip.compress(list(digits))
    plain = vaezip.compress(list(digits), guard=False)
    got, lossy = list(vaezip.open(data)), list(vaezip.open(plain))
    assert [n for n, _ in got] == [n for n, _ in lossy] == [
        f"image-{i:05d}.png" for i in range(len(digits))]
    for i, ((_, image), (_, lossy_image)) in enumerate(zip(got, lossy, strict=True)):
        if i in FLAGGED:
            assert _within(image, digits[i], 16), i
            assert not _within(lossy_image, digits[i], 16), i
        else:
            assert np.array_equal(np.asarray(image), np.asarray(lossy_image)), i
    reader = archive.ArchiveReader(data, "a.vz")
    assert [f.model for f in reader.frames] == [None, FALLBACK_MODEL]
    guard_frame = reader.frame(1)
    assert (guard_frame.declared_version, guard_frame.version) == (9, payload.NEAR_VERSION)
    assert guard_frame.positions == tuple(FLAGGED) and guard_frame.quality + 1 == 16
    assert len(plain) < len(data) < len(plain) + len(FLAGGED) * 80


def test_an_archive_of_guarded_digits_only_lists_no_positions(digits):
    data = vaezip.compress([digits[i] for i in FLAGGED])
    reader = archive.ArchiveReader(data, "a.vz")
    assert [f.model for f in reader.frames] == [FALLBACK_MODEL]
    assert reader.model == "mnist-bvae-32d" and reader.frame(0).positions is None
    out = list(vaezip.open(data))
    assert all(_within(image, digits[i], 16) for (_, image), i in zip(out, FLAGGED, strict=True))


def test_single_files_fall_back_to_near_lossless(run_cli, digits, tmp_path):
    Image.fromarray(digits[92]).save(tmp_path / "risky.png")
    Image.fromarray(digits[0]).save(tmp_path / "plain.png")
    r = run_cli("encode", tmp_path / "risky.png", tmp_path / "plain.png")
    assert r.code == 0 and "1 of 2 digits guarded" in r.out, r
    risky = container.loads((tmp_path / "risky.vz").read_bytes(), "risky.vz")
    assert (risky.model, risky.mode, risky.quality + 1) == (
        FALLBACK_MODEL, "near-lossless", 16)
    assert container.loads((tmp_path / "plain.vz").read_bytes(), "p").mode == "quantised"
    assert run_cli("decode", tmp_path / "risky.vz", "-o", tmp_path / "back.png").code == 0
    assert _within(Image.open(tmp_path / "back.png"), digits[92], 16)
    r = run_cli("encode", tmp_path / "risky.png", "--no-guard", "-f")
    assert r.code == 0 and "guarded" not in r.out
    assert container.loads((tmp_path / "risky.vz").read_bytes(), "r").mode == "quantised"
    assert vaezip.compress(digits[92]) != vaezip.compress(digits[92], guard=False)


def test_only_digits_given_as_they_are_can_be_guarded(digits):
    """A digit that was scaled, inverted or put in RGB comes back at its own size and mode
    from the lossy decoding; near-lossless takes 28x28 gray levels only."""
    risky = Image.fromarray(digits[92])
    for variant in (risky.resize((56, 56)), risky.convert("RGB"),
                    Image.fromarray(255 - digits[92])):
        vz = container.loads(vaezip.compress(variant), "v.vz")
        assert vz.mode == "quantised"


def test_the_guard_is_bound_to_its_models_weights(monkeypatch):
    from dataclasses import replace

    entry = registry.find("mnist-bvae-32d")
    guard = load_guard(entry)
    assert guard is not None and guard.model_sha256 == entry.sha256
    assert load_guard(replace(entry, sha256="0" * 64)) is None  # a retrained model
    assert load_guard(registry.find("mnist-vae-16d")) is None  # none trained for it
    assert guard_path(entry).parent.name == "guards"


def test_the_shipped_guard_is_the_recorded_recipe():
    from safetensors import safe_open

    from vaezip.models.recipes import GUARDS

    for name, recipe in GUARDS.items():
        with safe_open(str(guard_path(registry.find(name))), framework="numpy") as f:
            meta = f.metadata()
        assert json.loads(meta["recipe"]) == recipe
        assert json.loads(meta["metrics"])["held_out_flagged"] == pytest.approx(0.03, abs=0.002)
        # the light model: several times faster to code than the 16-group one (issue 18)
        assert meta["fallback"] == FALLBACK_MODEL == "mnist-vae-lossless-lite"
        assert registry.find(FALLBACK_MODEL).config.hidden == (128, 128)


def test_a_guard_trains_and_flags_its_share_of_held_out_digits():
    torch = pytest.importorskip("torch")
    from vaezip.codecs.guard import FLAG_SHARE, train_guard
    from vaezip.models.runtime import load

    with np.load(MINI) as mini:
        images = torch.from_numpy(mini["train_images"])
        labels = torch.from_numpy(mini["train_labels"]).long()
    guard, metrics = train_guard(load("mnist-bvae-32d"), 2, images, labels, epochs=2)
    assert guard.threshold > 0 and metrics["held_out_accuracy"] > 0.5
    assert metrics["held_out_flagged"] == pytest.approx(FLAG_SHARE, abs=0.01)


def _archive_parts(data: bytes):
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _rebuild(header: dict, body: bytes) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + body


def _bad(data: bytes, message: str):
    with pytest.raises(FormatError, match=message):
        reader = archive.ArchiveReader(data, "a.vz")
        for info in reader.frames:
            reader.frame(info.index)


def test_version_9_frames_are_validated(digits):
    data = vaezip.compress([digits[i] for i in range(90, 95)])  # 92 is guarded
    header, body = _archive_parts(data)
    assert set(header) == {"0", f"1:{FALLBACK_MODEL}", "mnist-bvae-32d"}
    # The frame's tensor, renamed to a plain frame: its version 9 payload no longer fits.
    renamed = {("1" if k.startswith("1:") else k): v for k, v in header.items()}
    _bad(_rebuild(renamed, body), "version 9 is for archive frames that name their own model")
    _bad(_rebuild({("1:Bad" if k.startswith("1:") else k): v for k, v in header.items()},
                  body), "frame 1 names an invalid model")
    start = header[f"1:{FALLBACK_MODEL}"]["data_offsets"][0]
    frames = bytearray(body)
    frames[start] = payload.NEAR_VERSION << 4 | payload.MODE_NEAR  # not 9
    _bad(_rebuild(header, bytes(frames)), "must be version 9, not 7")
    # A guard frame's positions must fall within the frame before it and itself.
    guarded = archive.ArchiveReader(data, "a.vz").frame_bytes(1)  # 92 at place 2 of 5
    one = archive.ArchiveReader(vaezip.compress([digits[0], digits[1]]), "b.vz")
    lossy = one.frame_bytes(0)  # two members: place 2 of 3 fits, then not with one member
    model = FALLBACK_MODEL
    framed = archive.framed_bytes("mnist-bvae-32d", [(lossy, ["a", "b"], None),
                                                     (guarded, ["c"], model)])
    assert [n for n, _ in vaezip.open(framed)] == ["a", "b", "c"]
    _bad(archive.framed_bytes("mnist-bvae-32d", [(guarded, ["c"], model)]),
         "positions that do not fit the frame before it")
    _bad(archive.framed_bytes("mnist-bvae-32d", [(guarded, ["c"], model),
                                                 (guarded, ["d"], model)]),
         "positions that do not fit the frame before it")
