"""encode / decode / sample from the command line, on images users really have."""

import io
import json
import os
import pickle
import struct
from pathlib import Path

import images
import numpy as np
import pytest
from conftest import files, one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image


@pytest.fixture
def digit(tmp_path) -> Path:
    path = tmp_path / "digit.png"
    Image.fromarray(images.mnist_digit(0)).save(path, optimize=True)
    return path


def test_encode_then_decode_an_mnist_digit(run_cli, digit, tmp_path):
    r = run_cli("encode", digit)
    assert r.code == 0, r
    vz = tmp_path / "digit.vz"
    assert vz.is_file() and len(vz.read_bytes()) <= 310
    assert "digit.png" in r.out and "ratio" in r.out

    # The original sits where decode would write: refused, and it says what to do.
    before = digit.read_bytes()
    one_line_error(run_cli("decode", vz), 1, "digit.png", "--force")
    assert digit.read_bytes() == before

    r = run_cli("decode", vz, "-o", tmp_path / "back.png")
    assert r.code == 0, r
    back = np.asarray(Image.open(tmp_path / "back.png"))
    assert back.shape == (28, 28)
    original = images.mnist_digit(0).astype(float)
    psnr = 10 * np.log10(255**2 / np.mean((back - original) ** 2))
    assert psnr > 14, psnr


def test_encoding_twice_gives_identical_bytes_and_never_overwrites(run_cli, digit, tmp_path):
    assert run_cli("encode", digit, "-o", tmp_path / "a.vz").code == 0
    assert run_cli("encode", digit, "-o", tmp_path / "b.vz").code == 0
    assert (tmp_path / "a.vz").read_bytes() == (tmp_path / "b.vz").read_bytes()
    one_line_error(run_cli("encode", digit, "-o", tmp_path / "a.vz"), 1, "a.vz", "--force")
    assert run_cli("encode", digit, "-o", tmp_path / "a.vz", "--force").code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def test_a_black_on_white_scan_comes_back_black_on_white_at_its_size(run_cli, tmp_path):
    scan = tmp_path / "scan.png"
    images.on_paper(size=256).save(scan)
    assert run_cli("encode", scan).code == 0
    r = run_cli("decode", tmp_path / "scan.vz", "-o", tmp_path / "out.png")
    assert r.code == 0, r
    out = Image.open(tmp_path / "out.png")
    assert out.size == (256, 256) and out.mode == "L"
    pixels = np.asarray(out)
    assert np.median(pixels) > 200 and pixels.min() < 90  # light paper, dark ink

    r = run_cli("decode", tmp_path / "scan.vz", "-o", tmp_path / "n.png", "--native")
    assert r.code == 0 and Image.open(tmp_path / "n.png").size == (28, 28)
    assert np.asarray(Image.open(tmp_path / "n.png"))[0].max() == 0  # model space: white on black
    r = run_cli("decode", tmp_path / "scan.vz", "-o", tmp_path / "s.png", "--size", "64x32")
    assert r.code == 0 and Image.open(tmp_path / "s.png").size == (64, 32)


def test_decode_sample_draws_from_the_posterior_reproducibly(run_cli, digit, tmp_path):
    run_cli("encode", digit)
    vz = tmp_path / "digit.vz"
    outs = {}
    for name, extra in (("mean", []), ("s1", ["--sample", "--seed", "1"]),
                        ("s1b", ["--sample", "--seed", "1"]), ("s2", ["--sample", "--seed", "2"])):
        assert run_cli("decode", vz, "-o", tmp_path / f"{name}.png", *extra).code == 0
        outs[name] = (tmp_path / f"{name}.png").read_bytes()
    assert outs["s1"] == outs["s1b"] and outs["s1"] != outs["s2"] and outs["s1"] != outs["mean"]


@pytest.mark.parametrize("make, suffix, mode", [
    (images.transparent, ".png", "RGBA"),
    (images.sixteen_bit, ".png", "I;16"),
    (images.palette, ".gif", "RGB"),
    (lambda: images.on_paper().convert("RGB"), ".jpg", "RGB"),
])
def test_users_image_kinds_round_trip_in_their_mode_and_size(run_cli, tmp_path, make, suffix,
                                                             mode):
    original = make()
    path = tmp_path / f"in{suffix}"
    original.save(path)
    assert run_cli("encode", path).code == 0
    r = run_cli("decode", tmp_path / "in.vz", "-o", tmp_path / "out.png")
    assert r.code == 0, r
    out = Image.open(tmp_path / "out.png")
    assert out.size == original.size
    assert out.mode == mode or (mode == "I;16" and out.mode.startswith("I"))


def test_directories_recurse_and_mirror_into_o(run_cli, tmp_path):
    src = tmp_path / "digits"
    (src / "sub").mkdir(parents=True)
    for i, rel in enumerate(["a.png", "b.png", "sub/c.png"]):
        Image.fromarray(images.mnist_digit(i)).save(src / rel)
    (src / "notes.txt").write_text("not an image, not picked up")
    r = run_cli("encode", src, "-o", tmp_path / "out")
    assert r.code == 0, r
    assert files(tmp_path / "out") == {"a.vz", "b.vz", "sub/c.vz"}
    r = run_cli("decode", tmp_path / "out", "-o", tmp_path / "back")
    assert r.code == 0, r
    assert files(tmp_path / "back") == {"a.png", "b.png", "sub/c.png"}
    r = run_cli("encode", src)  # next to each input by default
    assert r.code == 0 and {"a.vz", "sub/c.vz"} <= files(src)


def test_pack_and_unpack_an_archive(run_cli, tmp_path):
    src = tmp_path / "digits"
    (src / "x").mkdir(parents=True)
    names = [f"{i:02d}.png" for i in range(30)] + ["x/odd.png"]
    for i, name in enumerate(names):
        Image.fromarray(images.mnist_digit(i)).save(src / name)
    r = run_cli("encode", src, "--pack", "-o", tmp_path / "all.vz")
    assert r.code == 0, r
    packed = (tmp_path / "all.vz").stat().st_size
    assert packed / len(names) < 120  # one header for all
    r = run_cli("decode", tmp_path / "all.vz")
    assert r.code == 0, r
    assert files(tmp_path / "all") == set(names)
    assert Image.open(tmp_path / "all" / "x" / "odd.png").size == (28, 28)
    # Decoding again over the same files needs --force.
    one_line_error(run_cli("decode", tmp_path / "all.vz"), 1, "--force")
    assert run_cli("decode", tmp_path / "all.vz", "--force").code == 0
    # A directory input packs into DIR.vz by default.
    assert run_cli("encode", src, "--pack").code == 0
    assert (tmp_path / "digits.vz").is_file()


def test_stdin_and_stdout(tmp_path, digit):
    data = digit.read_bytes()
    import subprocess
    import sys

    enc = subprocess.run([sys.executable, "-m", "vaezip", "encode", "-"], input=data,
                         capture_output=True, env={**os.environ, "VAEZIP_HOME": str(tmp_path)})
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout[8:].startswith(b'{"B":{"dtype":"U8"')  # a coded file (format 8)
    dec = subprocess.run([sys.executable, "-m", "vaezip", "decode", "-"], input=enc.stdout,
                         capture_output=True, env={**os.environ, "VAEZIP_HOME": str(tmp_path)})
    assert dec.returncode == 0, dec.stderr
    assert Image.open(io.BytesIO(dec.stdout)).size == (28, 28)


def test_bad_image_inputs_are_one_line_errors_and_write_nothing(run_cli, tmp_path):
    cases = {
        "missing.png": None,
        "empty.png": b"",
        "text.png": b"just some words",
        "cut.png": images.png_bytes(images.on_paper())[:400],
        "bomb.png": images.bomb_png(),
    }
    needles = {"missing.png": "no such file", "empty.png": "not an image",
               "text.png": "not an image", "cut.png": "truncated",
               "bomb.png": "pixel limit"}
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        one_line_error(run_cli("encode", tmp_path / name), 1, name, needles[name])
    assert not list(tmp_path.glob("*.vz"))


def test_several_bad_inputs_are_all_named_and_nothing_is_written(run_cli, tmp_path, digit):
    (tmp_path / "bad1.png").write_bytes(b"x")
    (tmp_path / "bad2.png").write_bytes(b"y")
    r = run_cli("encode", digit, tmp_path / "bad1.png", tmp_path / "bad2.png")
    assert r.code == 1
    lines = r.err.strip().splitlines()
    assert len(lines) == 3 and "bad1.png" in lines[0] and "bad2.png" in lines[1]
    assert "nothing was written" in lines[2] and "Traceback" not in r.err
    assert not list(tmp_path.glob("*.vz"))


def test_warnings_for_blank_and_multi_frame_images(run_cli, tmp_path):
    Image.new("L", (40, 40), 255).save(tmp_path / "white.png")
    (tmp_path / "anim.gif").write_bytes(images.two_frame_gif())
    r = run_cli("encode", tmp_path / "white.png", tmp_path / "anim.gif")
    assert r.code == 0
    assert "warning: " in r.err and "no ink" in r.err and "using the first" in r.err


def test_usage_errors_exit_2(run_cli, tmp_path, digit):
    assert run_cli("encode").code == 2
    run_cli("encode", digit)
    vz = tmp_path / "digit.vz"
    one_line_error(run_cli("decode", vz, "--native", "--size", "9x9"), 2, "exclude")
    one_line_error(run_cli("decode", vz, "--size", "big"), 2, "--size")
    other = tmp_path / "other.png"
    other.write_bytes(digit.read_bytes())
    one_line_error(run_cli("encode", digit, other, "--pack"), 2, "-o")
    one_line_error(run_cli("encode", digit, digit), 2, "stored as")
    one_line_error(run_cli("encode", tmp_path / "digit.vz", "-o", tmp_path / "digit.vz"), 2,
                   "its own input")


def _hostile_pickle(sentinel: Path) -> bytes:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    return pickle.dumps(Payload())


def _full_named(short: bytes, model: str) -> bytes:
    """A version 8 single file (model named by alias) as the version 3 file naming model."""
    start = 8 + int.from_bytes(short[:8], "little")
    payload = bytes([3 << 4 | short[start] & 15]) + short[start + 1 :]
    header = json.dumps({model: {"dtype": "U8", "shape": [len(payload)],
                                 "data_offsets": [0, len(payload)]}}).encode()
    return len(header).to_bytes(8, "little") + header + payload


def test_bad_vz_files_are_refused_and_never_executed(run_cli, tmp_path, digit):
    run_cli("encode", digit, "-o", tmp_path / "coded.vz")
    coded = (tmp_path / "coded.vz").read_bytes()
    assert _full_named(coded, "mnist-bvae-32d") != coded
    (tmp_path / "full.vz").write_bytes(_full_named(coded, "mnist-bvae-32d"))
    assert run_cli("decode", tmp_path / "full.vz", "-o", tmp_path / "full.png").code == 0
    for name, data, needle in (
        ("coded-unknown-model.vz", _full_named(coded, "mnist-bvae-99d"), "not installed"),
        ("coded-traversal.vz", _full_named(coded, "../../etc/pwd1"), "invalid model name"),
        ("coded-unknown-alias.vz", coded.replace(b'{"B":', b'{"Q":'), "short alias"),
        ("coded-cut.vz", coded[:-3], "truncated"),
    ):
        (tmp_path / name).write_bytes(data)
        one_line_error(run_cli("decode", tmp_path / name, "-o", tmp_path / "out.png"), 1,
                       name, needle)
    run_cli("encode", digit, "-m", "mnist-vae-16d", "--float")  # the float layout
    good = (tmp_path / "digit.vz").read_bytes()
    (n,) = struct.unpack("<Q", good[:8])
    sentinel = tmp_path / "pwned"
    cases = {
        "empty.vz": (b"", "empty file"),
        "random.vz": (bytes(range(256)) * 3, "points past the end"),
        "pickle.vz": (_hostile_pickle(sentinel), "not"),
        "cut.vz": (good[:-7], "truncated"),
        "unknown-model.vz": (good.replace(b'"mnist-vae-16d"', b'"mnist-vae-99d"'),
                             "not installed"),
        "traversal.vz": (good.replace(b'"mnist-vae-16d"', b'"../../etc/pwd"'),
                         "invalid model name"),
    }
    header = good[8 : 8 + n]
    old_hash = header.split(b'"sha256":"')[1][:12]
    cases["other-version.vz"] = (good.replace(old_hash, b"0" * 12), "different version")
    for name, (data, needle) in cases.items():
        (tmp_path / name).write_bytes(data)
        one_line_error(run_cli("decode", tmp_path / name, "-o", tmp_path / "out.png"), 1,
                       name, needle)
    assert not sentinel.exists()
    assert not (tmp_path / "out.png").exists()
    one_line_error(run_cli("decode", tmp_path / "nope.vz"), 1, "no such file")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    one_line_error(run_cli("decode", empty_dir), 1, "no .vz files")


@pytest.fixture(scope="module")
def valid_vz(tmp_path_factory) -> bytes:
    import vaezip

    digits = [images.png_bytes(Image.fromarray(images.mnist_digit(i))) for i in range(3)]
    return vaezip.compress(digits, model="mnist-vae-16d")  # no entropy model: float layout


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_vz_files_decode_cleanly_or_fail_in_one_line(run_cli, tmp_path, valid_vz,
                                                             data):
    blob = bytearray(valid_vz)
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    import tempfile

    work = Path(tempfile.mkdtemp(dir=tmp_path))
    (work / "f.vz").write_bytes(bytes(blob))
    r = run_cli("decode", work / "f.vz", "-o", work / "out")
    assert "Traceback" not in r.err
    if r.code == 0:
        # PNG files, whatever case a flipped bit left their suffix in (image-00000.Png)
        assert all(p.suffix.lower() == ".png" for p in (work / "out").rglob("*")
                   if p.is_file())
    else:
        one_line_error(r, 1)
        assert files(work) == {"f.vz"}  # no stray output or temp files


def test_sample_without_grid_writes_one_file_per_draw(run_cli, tmp_path):
    out = tmp_path / "draws"
    r = run_cli("sample", "-n", "12", "--no-grid", "-o", out, "--temperature", "0.7",
                "--scale", "1")
    assert r.code == 0, r
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"sample-{i:02d}.png" for i in range(12)]
    assert Image.open(out / names[0]).size == (28, 28)
    first = (out / names[3]).read_bytes()
    assert run_cli("sample", "-n", "12", "--no-grid", "-o", out, "--temperature", "0.7").code == 1
    r = run_cli("sample", "-n", "12", "--no-grid", "-o", out, "--temperature", "0.7", "--force",
                "--scale", "1")
    assert r.code == 0 and (out / names[3]).read_bytes() == first  # same seed, same draws


def test_an_existing_directory_is_not_a_file_output(run_cli, tmp_path, digit):
    (tmp_path / "taken").mkdir()
    one_line_error(run_cli("encode", digit, "-o", tmp_path / "taken"), 1, "is a directory")
    one_line_error(run_cli("sample", "-o", tmp_path / "taken"), 1, "is a directory")


def test_binary_output_is_never_written_to_a_terminal(tmp_path, digit):
    import subprocess
    import sys

    primary, secondary = os.openpty()  # stdout is a terminal, as in an interactive shell
    try:
        r = subprocess.run([sys.executable, "-m", "vaezip", "encode", str(digit), "-o", "-"],
                           stdout=secondary, stderr=subprocess.PIPE, text=True, timeout=60,
                           env={**os.environ, "VAEZIP_HOME": str(tmp_path)})
    finally:
        os.close(secondary)
        os.close(primary)
    assert r.returncode == 2 and "refusing to write binary data to a terminal" in r.stderr
