"""Lossless mode: the 256-level likelihood, bits-back coding, and the CLI around it."""

import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import MINI, files, format3_lossless_encode, one_line_error
from PIL import Image


@pytest.fixture(scope="module")
def real_digits() -> np.ndarray:
    with np.load(MINI) as mini:
        return mini["test_images"][:40]  # uint8 [40, 28, 28], real MNIST test digits


def tiny_logistic_model(seed=0):
    from vaezip.models.config import ModelConfig, mlp_parameter_names
    from vaezip.models.numpy_nets import NumpyModel

    config = ModelConfig(arch="vae", likelihood="logistic", latent_dim=4, hidden=(16,))
    rng = np.random.default_rng(seed)
    tensors = {}
    for prefix, sizes in (("encoder", config.encoder_sizes()),
                          ("decoder", config.decoder_sizes())):
        for (w, b), (n_in, n_out) in zip(mlp_parameter_names(prefix, sizes),
                                         zip(sizes[:-1], sizes[1:], strict=True), strict=True):
            tensors[w] = rng.normal(0, 0.1, (n_out, n_in)).astype(np.float32)
            tensors[b] = rng.normal(0, 0.1, n_out).astype(np.float32)
    return NumpyModel(config, tensors), tensors


def test_the_numpy_pmf_is_the_distribution_torch_trains():
    import torch

    from vaezip.models.torch_nets import build_model

    numpy_model, tensors = tiny_logistic_model()
    torch_model = build_model(numpy_model.config)
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    z = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    pmf = numpy_model.pixel_pmf(z)  # [3 * 784, 256]
    assert np.allclose(pmf.sum(1), 1) and (pmf >= 0).all()
    out = torch_model.decoder_logits(torch.from_numpy(z))
    from vaezip.models.torch_nets import logistic_mixture_nll

    for level in (0, 1, 77, 254, 255):  # every pixel at this level: -log p summed
        x = torch.full((3, 784), level / 255)
        nll = logistic_mixture_nll(out, x, 3).detach().numpy()
        expected = -np.log(pmf[:, level].reshape(3, 784)).sum(1)
        assert np.allclose(nll, expected, rtol=1e-4), level


def test_bits_back_round_trips_exactly_and_chunks_grow(real_digits):
    from vaezip.codecs import bitsback as lossless

    model, _ = tiny_logistic_model()
    pixels = real_digits.reshape(len(real_digits), -1)
    assert lossless.chunks(90)[:4] == [(0, 1), (1, 5), (5, 21), (21, 85)]
    data = format3_lossless_encode(model, pixels)
    assert np.array_equal(lossless.decode(model, data, len(pixels), 784), pixels)
    one = format3_lossless_encode(model, pixels[:1])
    assert np.array_equal(lossless.decode(model, one, 1, 784), pixels[:1])


def test_the_shipped_lossless_model_beats_png_on_real_digits(real_digits):
    from vaezip.codecs import bitsback as lossless
    from vaezip.models.registry import load_inference

    model, entry = load_inference("mnist-vae-lossless")  # the float coder: no pixel groups
    pixels = real_digits.reshape(len(real_digits), -1)
    data = format3_lossless_encode(model, pixels)
    assert np.array_equal(lossless.decode(model, data, len(pixels), 784), pixels)
    bits_per_dim = 8 * len(data) / pixels.size
    assert bits_per_dim < 1.8, bits_per_dim  # PNG: ~2.8; the full benchmark: bench/lossless.py


@pytest.fixture
def digit_files(tmp_path, real_digits) -> Path:
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(real_digits[i]).save(folder / f"{i}.png")
    return folder


def test_cli_lossless_round_trip_single_and_packed(run_cli, digit_files, tmp_path,
                                                  real_digits):
    r = run_cli("encode", "--lossless", digit_files / "0.png", "-o", tmp_path / "0.vz")
    assert r.code == 0, r
    assert run_cli("decode", tmp_path / "0.vz", "-o", tmp_path / "0.png").code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "0.png")), real_digits[0])

    assert run_cli("encode", "--lossless", digit_files, "--pack", "-o",
                   tmp_path / "all.vz").code == 0
    assert run_cli("decode", tmp_path / "all.vz", "-o", tmp_path / "out").code == 0
    for i in range(5):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"{i}.png")),
                              real_digits[i])
    one_line_error(run_cli("decode", tmp_path / "all.vz", "--sample", "-o", tmp_path / "s"),
                   2, "exact pixels")


@pytest.mark.parametrize("args, message", [
    (["--float"], "excludes"), (["-Q", "3"], "excludes"), (["--digit", "3"], "excludes"),
    (["-m", "mnist-vae-16d"], "256-level likelihood"),
])
def test_lossless_option_conflicts_are_usage_errors(run_cli, digit_files, tmp_path, args,
                                                    message):
    r = run_cli("encode", "--lossless", digit_files / "1.png", "-o", tmp_path / "x.vz", *args)
    one_line_error(r, 2, message)


def test_lossless_refuses_images_it_cannot_give_back_exactly(run_cli, tmp_path, real_digits):
    Image.fromarray(real_digits[0]).convert("RGB").save(tmp_path / "rgb.png")
    Image.fromarray(real_digits[0]).resize((56, 56)).save(tmp_path / "big.png")
    for name, needle in (("rgb.png", "28x28 RGB"), ("big.png", "56x56 L")):
        r = run_cli("encode", "--lossless", tmp_path / name, "-o", tmp_path / "x.vz")
        one_line_error(r, 1, needle, "lossless coding takes 28x28 8-bit grayscale")
        assert not (tmp_path / "x.vz").exists()


def test_damaged_lossless_files_are_refused_never_decoded_wrong(run_cli, digit_files,
                                                                tmp_path, real_digits):
    assert run_cli("encode", "--lossless", digit_files / "2.png", "-o",
                   tmp_path / "2.vz").code == 0
    good = (tmp_path / "2.vz").read_bytes()
    start = 8 + struct.unpack("<Q", good[:8])[0]
    rng = np.random.default_rng(0)
    bits = [(i, b) for i in range(start, start + 8) for b in range(8)]  # the whole header
    bits += [(int(i), int(b)) for i, b in zip(rng.integers(start + 8, len(good), 80),
                                              rng.integers(0, 8, 80), strict=True)]
    work = tmp_path / "work"
    work.mkdir()
    for i, bit in bits:
        blob = bytearray(good)
        blob[i] ^= 1 << bit
        (work / "x.vz").write_bytes(bytes(blob))
        r = run_cli("decode", work / "x.vz", "-o", work / "x.png")
        if r.code == 0:  # only acceptable if every pixel is still right
            assert np.array_equal(np.asarray(Image.open(work / "x.png")), real_digits[2])
            (work / "x.png").unlink()
        else:
            one_line_error(r, 1)
        assert files(work) == {"x.vz"}
