"""Issue 29, Your images: a model of the user's own images, in any frame, gray or colour,
in every mode. The images are made here (coloured discs and squares on transparency), so
the tests need neither ../shared nor Debian's datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vaezip
from tests.conftest import make_icon, one_line_error
from tests.data.make_user_golden import CASES
from vaezip.errors import FormatError
from vaezip.format import payload
from vaezip.format.archive import ArchiveReader
from vaezip.frames.digit import Placement
from vaezip.frames.plain import Frame, exact_levels, prepare, relative, restore
from vaezip.models.config import ModelConfig


@pytest.fixture(scope="module")
def icon_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("icons")
    for i in range(90):
        sub = folder / ("a" if i % 3 else "b")  # read recursively
        sub.mkdir(exist_ok=True)
        make_icon(i).save(sub / f"icon{i:03d}.png")
    (folder / "a" / "notes.png").write_bytes(b"not an image")  # skipped, and counted
    return folder


@pytest.fixture(scope="module")
def trained(icon_dir, tmp_path_factory):
    """A lossy and a lossless model of the icons, trained by the CLI into a home of their
    own (module scope: each test copies nothing, it only reads)."""
    import os

    from typer.testing import CliRunner

    from vaezip.cli import app

    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("VAEZIP_HOME")
    os.environ["VAEZIP_HOME"] = str(home)
    runner = CliRunner()
    try:
        lossy = runner.invoke(app, ["train", "--name", "icons", "--data-dir", str(icon_dir),
                                    "--epochs", "3", "--hidden", "64", "--latent-dim", "8"])
        lossless = runner.invoke(app, ["train", "--name", "icons-exact", "--data-dir",
                                       str(icon_dir), "--epochs", "2", "--hidden", "64",
                                       "--latent-dim", "4", "--likelihood", "logistic",
                                       "--groups", "4"])
    finally:
        if old is None:
            del os.environ["VAEZIP_HOME"]
        else:
            os.environ["VAEZIP_HOME"] = old
    assert lossy.exit_code == 0 and lossless.exit_code == 0, (lossy.output, lossless.output)
    return home, lossy.output


@pytest.fixture
def home(trained, monkeypatch):
    monkeypatch.setenv("VAEZIP_HOME", str(trained[0]))
    return trained[0]


def test_training_takes_the_frame_from_the_data_and_says_so(trained):
    out = trained[1]
    assert "frame: 16x12 RGBA, the frame of 90 of the 90 images" in out
    assert "skipped 1 unreadable files" in out and "notes.png" in out
    assert "a hold-out by content hash" in out


def test_the_registry_shows_each_models_frame(home, run_cli):
    listing = run_cli("models").out
    assert "16x12 RGBA" in listing and "28x28 gray" in listing
    summary = json.loads(run_cli("models", "icons", "--json").out)
    assert (summary["frame"], summary["framing"]) == ("16x12 RGBA", "plain")


def test_plain_framing_keeps_size_colour_and_alpha(home, run_cli, tmp_path):
    icon = make_icon(7)
    icon.save(tmp_path / "in.png")
    assert run_cli("encode", tmp_path / "in.png", "-m", "icons", "-o", tmp_path / "in.vz",
                   "-q").code == 0
    assert run_cli("decode", tmp_path / "in.vz", "-o", tmp_path / "out.png").code == 0
    back = Image.open(tmp_path / "out.png")
    assert (back.size, back.mode) == ((16, 12), "RGBA")
    # Another size and mode: resized into the frame, said so, and given back as it was.
    Image.new("RGB", (40, 20), (200, 30, 30)).save(tmp_path / "wide.png")
    r = run_cli("encode", tmp_path / "wide.png", "-m", "icons", "-o", tmp_path / "wide.vz")
    assert r.code == 0 and "40x20, resized into the model's 16x12 RGBA frame" in r.err
    assert run_cli("decode", tmp_path / "wide.vz", "-o", tmp_path / "wide-out.png").code == 0
    back = Image.open(tmp_path / "wide-out.png")
    assert (back.size, back.mode) == ((40, 20), "RGB")


def test_every_pixel_comes_back_in_colour_single_and_packed(home, run_cli, icon_dir,
                                                            tmp_path):
    archive = tmp_path / "all.vz"
    assert run_cli("encode", icon_dir, "-m", "icons-exact", "--lossless", "--pack", "-o",
                   archive, "-q").code == 1  # notes.png is not an image: nothing written
    assert not archive.exists()
    (icon_dir / "a" / "notes.png").rename(tmp_path / "notes.png")
    try:
        assert run_cli("encode", icon_dir, "-m", "icons-exact", "--lossless", "--pack", "-o",
                       archive, "-q").code == 0
    finally:
        (tmp_path / "notes.png").rename(icon_dir / "a" / "notes.png")
    assert run_cli("test", archive).code == 0
    listing = run_cli("list", archive).out
    assert "16x12 RGBA" in listing and "format 11" in listing
    assert run_cli("decode", archive, "-o", tmp_path / "out", "-T", "2").code == 0
    for path in icon_dir.rglob("icon*.png"):
        back = Image.open(tmp_path / "out" / path.relative_to(icon_dir))
        assert back.mode == "RGBA" and back.tobytes() == Image.open(path).tobytes()
    one = next(icon_dir.rglob("icon005.png"))
    assert run_cli("encode", one, "-m", "icons-exact", "--lossless", "-o", tmp_path / "1.vz",
                   "-q").code == 0
    image = vaezip.decompress((tmp_path / "1.vz").read_bytes())
    assert image.tobytes() == Image.open(one).tobytes()
    with vaezip.open(archive) as reader:
        name = one.relative_to(icon_dir).as_posix()
        assert reader[name].tobytes() == Image.open(one).tobytes()
    assert Image.open(tmp_path / "1.vz").mode == "RGBA"  # the Pillow plugin


def test_near_lossless_bounds_every_subpixel(home, icon_dir, tmp_path):
    icons = [Image.open(p) for p in sorted(icon_dir.rglob("icon00*.png"))]
    data = vaezip.compress(icons, model="icons-exact", max_error=3)
    with vaezip.open(data) as reader:
        assert len(reader) == len(icons)
        for i, icon in enumerate(icons):
            a, b = np.asarray(icon, int), np.asarray(reader[i], int)
            assert b.shape == a.shape and np.abs(a - b).max() <= 3


def assert_within_as_seen(original, decoded, max_error: int) -> None:
    """--visible's promise: alpha within N, and colour within N weighted by the decoded
    opacity (255 N at full opacity; anything where it decodes transparent)."""
    a, b = np.asarray(original, int), np.asarray(decoded, int)
    assert b.shape == a.shape and np.abs(a[..., 3] - b[..., 3]).max() <= max_error
    assert (b[..., 3:] * np.abs(a[..., :3] - b[..., :3])).max() <= 255 * max_error


def test_visible_bounds_what_is_seen_and_drops_hidden_colour(home, run_cli, tmp_path):
    from tests.data.make_user_golden import hidden_icon

    icons = [hidden_icon(300 + i) for i in range(12)]
    plain = vaezip.compress(icons, model="icons-exact", max_error=3)
    seen = vaezip.compress(icons, model="icons-exact", max_error=3, visible=True)
    assert len(seen) < len(plain)  # the noise under transparent pixels is not coded
    with ArchiveReader(seen, "x") as archive:
        assert payload.VISIBLE_ERROR in archive.frame(0).features
    changed = 0
    with vaezip.open(seen) as reader:
        for i, icon in enumerate(icons):
            assert_within_as_seen(icon, reader[i], 3)
            changed += np.abs(np.asarray(icon, int) - np.asarray(reader[i], int)).max() > 3
    assert changed  # somewhere the colour moved further than --max-error alone allows
    (tmp_path / "seen.vz").write_bytes(seen)
    assert "max error 3 as seen" in run_cli("list", tmp_path / "seen.vz").out


def test_visible_needs_max_error_and_a_frame_with_alpha(home, run_cli, tmp_path):
    Image.new("L", (28, 28)).save(tmp_path / "gray.png")
    r = run_cli("encode", tmp_path / "gray.png", "--visible", "-o", tmp_path / "x.vz")
    one_line_error(r, 2, "--visible goes with --max-error")
    r = run_cli("encode", tmp_path / "gray.png", "--max-error", "3", "--visible", "-o",
                tmp_path / "x.vz")
    one_line_error(r, 2, "--visible is for a frame with alpha", "28x28 gray")
    assert not (tmp_path / "x.vz").exists()


def test_lossless_refuses_an_image_outside_the_frame_naming_it(home, run_cli, tmp_path):
    Image.new("RGB", (16, 12)).save(tmp_path / "rgb.png")
    r = run_cli("encode", tmp_path / "rgb.png", "-m", "icons-exact", "--lossless", "-o",
                tmp_path / "x.vz")
    one_line_error(r, 1, "rgb.png", "16x12 RGBA", "16x12 RGB")
    assert not (tmp_path / "x.vz").exists()


def test_plain_records_are_flagged_in_the_feature_set(home, icon_dir):
    icon = Image.open(next(icon_dir.rglob("icon001.png")))
    data = vaezip.compress(icon, model="icons")
    vz = vaezip.format.container.loads(data, "x")
    assert vz.features == {payload.PLAIN_FRAMES}
    assert vz.declared_version == payload.FEATURES_VERSION and vz.version == 3


def test_feature_sets_round_trip_and_unknown_features_are_refused():
    images = [Placement(name="a.png", width=40, height=20, mode="RGB")]
    for features in ({payload.PLAIN_FRAMES}, {payload.PLAIN_FRAMES, payload.COMPACT_INDEX}):
        data = payload.coded_payload("0" * 12, b"", 4, images, b"\x01\x02", "quantised", 5,
                                     packed=True, named=False, features=frozenset(features))
        assert data[0] >> 4 == payload.FEATURES_VERSION
        vz = payload.parse_payload("m", data, "f", names=["a.png"])
        assert vz.features == features and vz.images == tuple(images)
        assert vz.stream == b"\x01\x02" and vz.version == payload.FRAME_VERSION
    # A legacy set is written as the version that stands for it, as before.
    data = payload.coded_payload("0" * 12, b"", 4, images, b"", "quantised", 5, packed=True,
                                 named=False, features=frozenset({payload.COMPACT_INDEX}))
    assert data[0] >> 4 == payload.COMPACT_INDEX_VERSION
    # A bit this reader does not know: refused, asking for an upgrade.
    unknown = bytearray(payload.coded_payload(
        "0" * 12, b"", 4, images, b"", "quantised", 5, packed=True, named=False,
        features=frozenset({payload.PLAIN_FRAMES})))
    unknown[payload.CODED_HEADER] |= 64
    with pytest.raises(FormatError, match="newer than this vaezip reads; upgrade"):
        payload.parse_payload("m", bytes(unknown), "f", names=["a.png"])
    # visible-error is a near-lossless promise: refused on other modes.
    data = payload.coded_payload("0" * 12, b"", 4, images, b"", "quantised", 5, packed=True,
                                 named=False, features=frozenset({payload.VISIBLE_ERROR}))
    with pytest.raises(FormatError, match="visible-error feature is for near-lossless"):
        payload.parse_payload("m", data, "f", names=["a.png"])
    # Plain records are validated as plain: no crop box.
    boxed = [Placement(name="a.png", width=40, height=20, box=(0, 0, 4, 4))]
    data = payload.coded_payload("0" * 12, b"", 4, boxed, b"", "quantised", 5, packed=True,
                                 named=False, features=frozenset({payload.PLAIN_FRAMES}))
    with pytest.raises(FormatError, match="plain-framed image has no crop box"):
        payload.parse_payload("m", data, "f", names=["a.png"])


def test_a_frame_round_trips_and_records_are_stored_relative_to_it():
    frame = Frame(4, 12, 16)
    icon = make_icon(3)
    item = prepare(icon, "i.png", frame)
    assert item.pixels.shape == (4 * 12 * 16,) and not item.warnings
    assert restore(item.pixels, item.placement, frame).tobytes() == icon.tobytes()
    assert exact_levels(icon, "i", frame).tobytes() == np.asarray(icon).transpose(
        2, 0, 1).tobytes()
    stored = relative(item.placement, frame)
    assert (stored.width, stored.height, stored.mode) == (28, 28, "L")  # nothing to store
    assert relative(stored, frame) == item.placement
    odd = Placement(name="o", width=28, height=5, mode="L")  # the defaults' own values
    assert relative(relative(odd, frame), frame) == odd


def test_a_frame_without_alpha_sees_an_image_over_white():
    icon = make_icon(3)  # black under its transparent pixels
    clear = np.asarray(icon)[..., 3] == 0
    for channels in (1, 3):
        frame = Frame(channels, 12, 16)
        pixels = prepare(icon, "i.png", frame).pixels.reshape(channels, 12, 16)
        assert (pixels[:, clear] == 1).all()  # white, not the invisible black
        back = restore(pixels.reshape(-1), prepare(icon, "i.png", frame).placement, frame)
        assert back.mode == "RGBA" and back.size == (16, 12)


def test_frames_are_validated_and_old_configs_keep_their_json():
    assert ModelConfig().to_json() == ModelConfig(channels=1, framing="digit").to_json()
    assert "framing" not in ModelConfig().to_json()  # shipped models keep their hashes
    config = ModelConfig(image_side=12, frame_width=16, channels=4, framing="plain")
    assert (config.frame, config.input_dim, config.frame_text) == ((4, 12, 16), 768,
                                                                    "16x12 RGBA")
    for bad in (dict(channels=5), dict(image_side=4), dict(framing="crop"),
                dict(channels=3)):  # the digit framing is for 28x28 gray
        with pytest.raises(ValueError):
            ModelConfig(**bad)
    groups = ModelConfig(likelihood="logistic", groups=4, image_side=12, frame_width=16,
                         channels=4, framing="plain").pixel_groups()
    assert sorted(p for g in groups for p in g) == list(range(768))


def test_frame_flags_are_checked(run_cli, icon_dir, mini_mnist_dir):
    r = run_cli("train", "--name", "x", "--data-dir", icon_dir, "--frame", "big")
    one_line_error(r, 2, "--frame", "32x32")
    r = run_cli("train", "--name", "x", "--data-dir", icon_dir, "--channels", "cmyk")
    one_line_error(r, 2, "gray, gray+alpha, rgb or rgba")
    r = run_cli("train", "--name", "x", "--data-dir", mini_mnist_dir, "--frame", "32x32",
                "--no-download")
    one_line_error(r, 2, "--frame and --channels are for a folder")


def test_a_folder_with_too_few_images_is_one_line(run_cli, tmp_path):
    for i in range(3):
        make_icon(i).save(tmp_path / f"{i}.png")
    one_line_error(run_cli("train", "--name", "x", "--data-dir", tmp_path), 1,
                   "3 readable images", "at least 20")


LOCAL = ModelConfig(likelihood="logistic", groups=4, context=1, image_side=8, frame_width=12,
                    channels=3, framing="plain", mixture=2, latent_dim=4, hidden=(16, 16))


def test_local_heads_see_only_earlier_groups_and_every_backend_agrees():
    import torch

    from vaezip.codecs import bitsback
    from vaezip.codecs.exact import ExactModel
    from vaezip.models.numpy_nets import NumpyModel
    from vaezip.models.torch_nets import LocalGroupVAE, build_model

    torch.manual_seed(0)
    model = build_model(LOCAL).eval()
    assert isinstance(model, LocalGroupVAE)
    tensors = {k: v.half().numpy() for k, v in model.state_dict().items()}
    model.load_state_dict({k: torch.from_numpy(v).float() for k, v in tensors.items()})
    z = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    with torch.no_grad():
        means = model.decode(torch.from_numpy(z)).numpy()
    assert np.abs(NumpyModel(LOCAL, tensors).decode(z) - means).max() < 1e-5
    groups = LOCAL.pixel_groups()
    x = torch.rand(2, LOCAL.input_dim)
    with torch.no_grad():
        before = model.decoder_logits(torch.zeros(2, 4), x=x).view(2, 3, 2, -1)
        assert len(groups) == 4 * 3  # a head per position group and channel
        for g in range(len(groups)):  # redraw groups g.. : g's parameters stay as they were
            y = x.clone()
            for later in groups[g:]:
                y[:, later] = torch.rand(2, len(later))
            after = model.decoder_logits(torch.zeros(2, 4), x=y).view(2, 3, 2, -1)
            assert torch.equal(before[..., groups[g]], after[..., groups[g]])
            if g + 1 < len(groups):
                assert not torch.equal(before[..., groups[g + 1]], after[..., groups[g + 1]])
    levels = np.random.default_rng(1).integers(0, 256, (5, LOCAL.input_dim)).astype(np.uint8)
    exact = ExactModel(LOCAL, tensors)
    stream = bitsback.encode_exact(exact, levels)
    assert np.array_equal(bitsback.decode_exact(exact, stream, 5, LOCAL.input_dim), levels)
    with torch.no_grad():
        nll = model.loss(torch.from_numpy(levels.astype(np.float32) / 255)).loss.item()
    rate, bound = 8 * len(stream) / levels.size, nll / (LOCAL.input_dim * np.log(2))
    assert bound - 0.05 < rate < bound + 0.2  # the coder pays what the model says


USER_GOLDEN = Path(__file__).resolve().parent / "data" / "user"


@pytest.fixture
def tiny_icons(vaezip_home):
    """The golden files' model (tests/data/make_user_golden.py), installed as a user's."""
    models = vaezip_home / "models"
    models.mkdir(parents=True)
    shutil.copy(USER_GOLDEN / "tiny-icons.safetensors", models)
    return USER_GOLDEN


@pytest.mark.parametrize("name", sorted(CASES))
def test_user_model_files_decode_and_encode_identically(name, tiny_icons, run_cli, tmp_path):
    """Under every CI CPU setting (make test-foreign): a user's colour model's files decode
    to the same pixels and re-encode to the same bytes."""
    golden = tiny_icons / name
    out = tmp_path / "out"
    assert run_cli("decode", golden, "-o", out if "pack" in name else out / "x.png",
                   "-q").code == 0
    if name.startswith("lossless"):
        for path in (out.glob("*.png")):
            source = tiny_icons / "in" / ("icon003.png" if name == "lossless-one.vz"
                                          else path.name)
            assert Image.open(path).tobytes() == Image.open(source).tobytes()
    if name.startswith("near"):
        for path in out.glob("*.png"):
            a = np.asarray(Image.open(path), int)
            b = np.asarray(Image.open(tiny_icons / "in" / path.name), int)
            assert np.abs(a - b).max() <= 3
    if name.startswith("visible"):
        for path in out.glob("*.png"):
            assert_within_as_seen(Image.open(tiny_icons / "hidden" / path.name),
                                  Image.open(path), 3)
    args = [a if a.startswith("-") or a.isdigit() else tiny_icons / a for a in CASES[name]]
    again = tmp_path / name
    assert run_cli("encode", *args, "-m", "tiny-icons", "-o", again, "-q").code == 0
    assert again.read_bytes() == golden.read_bytes()


def test_sample_draws_in_the_models_frame(home, run_cli, tmp_path):
    assert run_cli("sample", "-m", "icons", "-n", "3", "-o", tmp_path / "grid.png").code == 0
    assert Image.open(tmp_path / "grid.png").mode == "RGB"  # alpha over white
    assert run_cli("sample", "-m", "icons", "-n", "2", "--no-grid", "--scale", "1", "-o",
                   tmp_path / "each").code == 0
    one = Image.open(tmp_path / "each" / "sample-0.png")
    assert (one.size, one.mode) == ((16, 12), "RGBA")


def test_a_user_model_warns_about_images_unlike_its_own_in_words_that_name_it(
        run_cli, tmp_path, monkeypatch):
    """Calibrated on the model's own training images (a detector needs 200 or more):
    clothes-like gray images on black margins warn against a model of transparent icons;
    the model's own kind of icon does not."""
    monkeypatch.setenv("VAEZIP_HOME", str(tmp_path / "home"))
    train = tmp_path / "train"
    train.mkdir()
    for i in range(240):
        make_icon(1000 + i).save(train / f"{i:03d}.png")
    assert run_cli("train", "--name", "discs", "--data-dir", train, "--epochs", "3",
                   "--hidden", "64", "--latent-dim", "8", "-q").code == 0
    summary = json.loads(run_cli("models", "discs", "--json").out)
    assert summary["nondigit_threshold"] > 0
    make_icon(5000).save(tmp_path / "icon.png")
    rng = np.random.default_rng(0)
    blob = np.zeros((12, 16), np.uint8)
    blob[3:10, 4:12] = rng.integers(90, 200, (7, 8))  # a gray garment on black
    Image.fromarray(blob, "L").save(tmp_path / "garment.png")
    own = run_cli("encode", tmp_path / "icon.png", "-m", "discs", "-o", tmp_path / "i.vz")
    assert own.code == 0 and "unlike" not in own.err, own.err
    other = run_cli("encode", tmp_path / "garment.png", "-m", "discs", "-o",
                    tmp_path / "g.vz")
    assert other.code == 0
    assert "garment.png: unlike the images model discs was trained on" in other.err
    assert "digit" not in other.err


def test_random_access_decodes_a_bits_back_frame_once(home, icon_dir, monkeypatch):
    """A lossless frame's members share one bits-back chain: reader[i] decodes the frame
    whole and keeps it, so the next member costs nothing."""
    import vaezip.reader

    icons = [Image.open(p) for p in sorted(icon_dir.rglob("icon0[0-4]*.png"))]
    data = vaezip.compress(icons, model="icons-exact", lossless=True)
    calls = []
    decode = vaezip.reader.decode_file
    monkeypatch.setattr(vaezip.reader, "decode_file",
                        lambda *a, **k: calls.append(k.get("only")) or decode(*a, **k))
    with vaezip.open(data) as reader:
        assert reader.mode == "framed archive" and len(reader) == len(icons) > 2
        for i in (2, 0, len(icons) - 1):
            assert reader[i].tobytes() == icons[i].tobytes()
    assert calls == [None]  # one decode of the whole frame
