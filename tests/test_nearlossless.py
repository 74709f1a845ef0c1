"""Near-lossless coding (issue 18): every pixel back within N levels, guaranteed, by
bits-back coding of level bins over the lossless model, in exact arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from images import mnist_digit
from PIL import Image

import vaezip
from vaezip.codecs.bitsback import level_bins
from vaezip.errors import FormatError, OptionError
from vaezip.format import container


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    with np.load("tests/data/mnist-mini.npz") as mini:
        return mini["test_images"][:48]  # uint8 [48, 28, 28]


@pytest.mark.parametrize("max_error", [1, 2, 4, 8, 16])
def test_every_level_decodes_within_the_bound(max_error):
    starts, decoded = level_bins(max_error)
    levels = np.arange(256)
    bins = np.searchsorted(starts, levels, side="right") - 1
    assert np.abs(decoded[bins].astype(int) - levels).max() == max_error
    assert decoded[0] == 0 and decoded[-1] <= 255 and starts[0] == 0


def test_archives_keep_every_pixel_within_n_and_cost_less_as_n_grows(digits):
    sizes = {}
    for n in (1, 2, 4, 8, 16):
        data = vaezip.compress(list(digits), max_error=n)
        back = np.stack([np.asarray(image) for _, image in vaezip.open(data)])
        error = np.abs(back.astype(int) - digits.astype(int)).max()
        assert 0 < error <= n, (n, error)
        sizes[n] = len(data)
    lossless = len(vaezip.compress(list(digits), lossless=True))
    assert lossless > sizes[1] > sizes[2] > sizes[4] > sizes[8] > sizes[16], (lossless, sizes)


def test_the_cli_single_file_and_its_listing(run_cli, tmp_path):
    source = tmp_path / "d.png"
    Image.fromarray(mnist_digit(3), "L").save(source)
    r = run_cli("encode", source, "--max-error", "3")
    assert r.code == 0, r
    assert "every pixel within 3" in r.out
    vz = container.loads((tmp_path / "d.vz").read_bytes(), "d.vz")
    assert (vz.mode, vz.version, vz.quality) == ("near-lossless", 7, 2)
    listing = json.loads(run_cli("list", tmp_path / "d.vz", "--json").out)
    assert listing["mode"] == "near-lossless" and listing["max_error"] == [3]
    assert "max error 3" in run_cli("list", tmp_path / "d.vz").out
    assert run_cli("decode", tmp_path / "d.vz", "-o", tmp_path / "back.png").code == 0
    back = np.asarray(Image.open(tmp_path / "back.png"), int)
    assert np.abs(back - mnist_digit(3).astype(int)).max() <= 3


@pytest.mark.parametrize("args, message", [
    (["-e", "0"], "--max-error must be 1-16, not 0"),
    (["-e", "17"], "--max-error must be 1-16, not 17"),
    (["-e", "2", "--lossless"], "--lossless and --max-error exclude each other"),
    (["-e", "2", "-Q", "3"], "--max-error excludes --float, --quality and --digit"),
])
def test_bad_options_are_usage_errors(run_cli, tmp_path, args, message):
    source = tmp_path / "d.png"
    Image.fromarray(mnist_digit(3), "L").save(source)
    r = run_cli("encode", source, *args)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r
    assert not (tmp_path / "d.vz").exists()


def test_the_api_names_its_own_keywords():
    with pytest.raises(OptionError, match="max_error must be 1-16, not 0"):
        vaezip.compress(mnist_digit(3), max_error=0)
    with pytest.raises(OptionError, match="lossless and max_error exclude each other"):
        vaezip.compress(mnist_digit(3), max_error=2, lossless=True)


def test_images_it_cannot_take_name_the_file(run_cli, tmp_path):
    big = tmp_path / "big.png"
    Image.new("L", (40, 40)).save(big)
    r = run_cli("encode", big, "-e", "2")
    assert r.code == 1 and "big.png" in r.err and "28x28" in r.err, r


def test_the_checksum_covers_the_maximum_error(tmp_path):
    """The nibble that holds N is outside the bytes the CRC covers; N itself is not."""
    data = vaezip.compress(mnist_digit(4), max_error=4)
    start = 8 + int.from_bytes(data[:8], "little")
    assert data[start] == 8 << 4 | 2 and data[start + 1] & 15 == 3  # version 8: a short name
    other = data[: start + 1] + bytes([data[start + 1] & 0xF0 | 5]) + data[start + 2 :]
    with pytest.raises(FormatError, match="checksum"):
        vaezip.decompress(other)


@pytest.mark.parametrize("name", ["mnist-vae-lossless-16g", "mnist-vae-lossless"])
@pytest.mark.parametrize("max_error", [0, 3])
def test_one_stream_per_image_batched_is_the_same_bytes(name, max_error, digits, monkeypatch):
    """Single files (lossless, near-lossless, the identity guard's) code many images' networks
    at once (encode_exact_each); each stream must be what coding its image alone gives."""
    from vaezip.codecs import bitsback
    from vaezip.models.runtime import load

    model = load(name).exact
    levels = digits[:12].reshape(12, -1)
    monkeypatch.setattr(bitsback, "EACH_MASSES", 5 * 784 * 256)  # several batches
    assert bitsback.encode_exact_each(model, levels, max_error) == [
        bitsback.encode_exact(model, levels[i : i + 1], max_error) for i in range(12)]
