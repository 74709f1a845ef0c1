"""encode/decode with coded .vz files (the default): sizes, qualities, damage, old files."""

import struct
from pathlib import Path

import images
import numpy as np
import pytest
from conftest import files, one_line_error
from PIL import Image

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def digits(tmp_path) -> Path:
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(images.mnist_digit(i)).save(folder / f"{i}.png", optimize=True)
    return folder


def decoded(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float64)


def test_default_model_has_an_entropy_model():
    from vaezip.models.registry import DEFAULT_MODEL, find

    entry = find(DEFAULT_MODEL)
    assert len(entry.codec["sigma_units"]) == entry.config.latent_dim


def test_a_coded_digit_is_under_100_bytes_and_decodes_like_its_latents(run_cli, digits,
                                                                       tmp_path):
    r = run_cli("encode", digits / "0.png", "-o", tmp_path / "0.vz")
    assert r.code == 0, r
    data = (tmp_path / "0.vz").read_bytes()
    assert len(data) <= 100
    assert b"__metadata__" not in data  # the coded layout
    assert run_cli("decode", tmp_path / "0.vz", "-o", tmp_path / "0.png").code == 0
    original = images.mnist_digit(0).astype(np.float64)
    psnr = 10 * np.log10(255**2 / np.mean((decoded(tmp_path / "0.png") - original) ** 2))
    assert psnr > 15, psnr


def test_an_archive_decodes_to_the_same_digits_as_single_files(run_cli, digits, tmp_path):
    assert run_cli("encode", digits, "--pack", "-o", tmp_path / "all.vz").code == 0
    assert run_cli("encode", digits, "-o", tmp_path / "one").code == 0
    assert run_cli("decode", tmp_path / "all.vz", "-o", tmp_path / "from-archive").code == 0
    assert run_cli("decode", tmp_path / "one", "-o", tmp_path / "from-singles").code == 0
    for i in range(6):
        a = decoded(tmp_path / "from-archive" / f"{i}.png")
        b = decoded(tmp_path / "from-singles" / f"{i}.png")
        assert np.array_equal(a, b)
    archive = (tmp_path / "all.vz").stat().st_size
    singles = sum(p.stat().st_size for p in (tmp_path / "one").iterdir())
    assert archive < singles / 2  # one header for all: what --pack is for


def test_quality_trades_size_for_fidelity(run_cli, digits, tmp_path):
    sizes, errors = {}, {}
    for q in (1, 8):
        assert run_cli("encode", digits, "--pack", "-Q", q, "-o", tmp_path / f"q{q}.vz").code == 0
        assert run_cli("decode", tmp_path / f"q{q}.vz", "-o", tmp_path / f"q{q}").code == 0
        sizes[q] = (tmp_path / f"q{q}.vz").stat().st_size
        errors[q] = np.mean([np.mean((decoded(tmp_path / f"q{q}" / f"{i}.png")
                                      - images.mnist_digit(i)) ** 2) for i in range(6)])
    assert sizes[1] < sizes[8] and errors[1] > errors[8]


@pytest.mark.parametrize("args, message", [
    (["-Q", "0"], "--quality must be 1-8"),
    (["-Q", "9"], "--quality must be 1-8"),
    (["--float", "-Q", "3"], "drop --float"),
    (["-m", "mnist-ae-2d", "-Q", "3"], "has no entropy model"),
])
def test_bad_quality_options_are_usage_errors(run_cli, digits, tmp_path, args, message):
    one_line_error(run_cli("encode", digits / "0.png", "-o", tmp_path / "x.vz", *args), 2,
                   message)
    assert not (tmp_path / "x.vz").exists()


def test_float_mode_and_models_without_an_entropy_model_write_float_files(run_cli, digits,
                                                                          tmp_path):
    for args, name in ((["--float"], "f.vz"), (["-m", "mnist-ae-2d"], "ae.vz")):
        assert run_cli("encode", digits / "1.png", "-o", tmp_path / name, *args).code == 0
        assert b"__metadata__" in (tmp_path / name).read_bytes()
        assert run_cli("decode", tmp_path / name, "-o", tmp_path / f"{name}.png").code == 0


@pytest.mark.parametrize("name", ["float-v1", "float-v2-cvae"])
def test_float_files_from_earlier_versions_still_decode(run_cli, tmp_path, name):
    # Written by vaezip 0.1 (format versions 1 and 2) and kept in the repo.
    r = run_cli("decode", DATA / f"{name}.vz", "-o", tmp_path / "out.png")
    assert r.code == 0, r
    expected = decoded(DATA / f"{name}.png")
    assert np.abs(decoded(tmp_path / "out.png") - expected).max() <= 2  # BLAS rounding


def test_every_single_bit_flip_of_a_coded_file_is_refused(run_cli, digits, tmp_path):
    """A damaged ANS stream decodes silently into another digit; the checksum must stop
    every single-bit error (CRC-32 catches all of them) before any latent is used."""
    assert run_cli("encode", digits / "3.png", "-o", tmp_path / "3.vz").code == 0
    good = (tmp_path / "3.vz").read_bytes()
    start = 8 + struct.unpack("<Q", good[:8])[0]  # the coded bytes (after the JSON header)
    work = tmp_path / "work"
    work.mkdir()
    for i in range(start, len(good)):
        for bit in range(8):
            blob = bytearray(good)
            blob[i] ^= 1 << bit
            (work / "x.vz").write_bytes(bytes(blob))
            r = run_cli("decode", work / "x.vz", "-o", work / "x.png")
            one_line_error(r, 1)
            assert files(work) == {"x.vz"}


def test_a_coded_file_read_with_another_version_of_the_model_is_refused(digits, tmp_path):
    from dataclasses import replace

    from vaezip.cli import main
    from vaezip.codecs.quantised import QuantisedCodec
    from vaezip.errors import FormatError
    from vaezip.format import container
    from vaezip.models.registry import DEFAULT_MODEL
    from vaezip.models.runtime import Model, load

    with pytest.raises(SystemExit) as done:
        main(["encode", str(digits / "2.png"), "-o", str(tmp_path / "2.vz"), "-q"])
    assert done.value.code in (0, None)
    vz = container.loads((tmp_path / "2.vz").read_bytes(), "2.vz")
    model = load(DEFAULT_MODEL)
    other = Model(replace(model.entry, sha256="f" * 64), model.net)
    with pytest.raises(FormatError, match="different version of model"):
        QuantisedCodec.for_reading(vz, other).decode(vz, "2.vz")
    latents = QuantisedCodec.for_reading(vz, model).decode(vz, "2.vz")
    assert latents.mu.shape == (1, model.config.latent_dim)
