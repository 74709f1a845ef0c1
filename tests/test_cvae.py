"""The conditional VAE: training with labels, --digit on the command line, digits in .vz."""

import json
import struct

import numpy as np
import pytest
import torch
from images import mnist_digit
from PIL import Image

from vaezip.errors import FormatError, UsageError
from vaezip.format import container as codec
from vaezip.models.config import ModelConfig
from vaezip.models.registry import load_inference, load_model
from vaezip.training.datasets import load_mnist, to_model_space
from vaezip.training.loop import train
from vaezip.training.settings import TrainSettings

CVAE = "mnist-cvae-8d"


def test_config_of_a_cvae_and_hash_stability_of_the_others():
    c = ModelConfig(arch="cvae", latent_dim=4, hidden=(8,))
    assert c.classes == 10 and c.conditional
    assert c.encoder_sizes() == [794, 8, 8] and c.decoder_sizes() == [14, 8, 784]
    assert "classes" not in json.loads(ModelConfig().to_json())  # old files keep their hash
    assert ModelConfig.from_json(c.to_json()) == c
    with pytest.raises(ValueError, match="classes"):
        ModelConfig(arch="vae", classes=10)


def test_a_cvae_trains_on_labels_and_needs_them(mini_mnist_dir, tmp_path):
    data = load_mnist(mini_mnist_dir, train=True, download=False)
    images = to_model_space(data.images)
    config = ModelConfig(arch="cvae", latent_dim=4, hidden=(64,))
    settings = TrainSettings(epochs=3, batch_size=100)
    result = train(config, settings, images, tmp_path / "c.safetensors", labels=data.labels)
    losses = [h["loss"] for h in result.history]
    assert losses[0] > losses[-1]
    with pytest.raises(UsageError, match="needs one label per image"):
        train(config, settings, images, tmp_path / "d.safetensors")


def test_numpy_matches_torch_for_the_shipped_cvae(mini_mnist_dir):
    data = load_mnist(mini_mnist_dir, train=False, download=False)
    x, y = to_model_space(data.images), data.labels
    net, _ = load_model(CVAE)
    fast, _ = load_inference(CVAE)
    with torch.inference_mode():
        mu, logvar = net.encode(x, y)
        x_hat = net.decode(mu, y)
    mu_np, sigma_np = fast.encode(x.numpy(), y.numpy())
    np.testing.assert_allclose(mu_np, mu.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sigma_np, torch.exp(0.5 * logvar).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.decode(mu.numpy(), y.numpy()), x_hat.numpy(), atol=1e-5)


def test_sample_and_plot_with_a_digit(run_cli, tmp_path):
    r = run_cli("sample", "-m", CVAE, "--digit", "7", "-n", "16", "-o", tmp_path / "7.png")
    assert r.code == 0 and "of the digit 7" in r.out, r
    assert run_cli("sample", "-m", CVAE, "-o", tmp_path / "all.png").code == 0  # cycles 0-9
    r = run_cli("sample", "--digit", "7", "-o", tmp_path / "x.png")
    assert r.code == 2 and "needs a conditional model" in r.err
    r = run_cli("sample", "-m", CVAE, "--digit", "12", "-o", tmp_path / "x.png")
    assert r.code == 2 and "between 0 and 9" in r.err
    r = run_cli("plot", "manifold", "-m", CVAE, "--digit", "7", "-n", "6", "-o", tmp_path / "m.png")
    assert r.code == 0, r
    r = run_cli("plot", "manifold", "-m", "mnist-vae-2d-bce", "--digit", "7", "-o",
                tmp_path / "m2.png")
    assert r.code == 2 and "conditional" in r.err


def test_encode_with_the_digit_stores_it_and_decode_uses_it(run_cli, tmp_path):
    Image.fromarray(mnist_digit(0)).save(tmp_path / "seven.png")  # test digit 0 is a 7
    r = run_cli("encode", tmp_path / "seven.png", "-m", CVAE)
    assert r.code == 2 and "--digit" in r.err  # the label is not guessed
    assert run_cli("encode", tmp_path / "seven.png", "-m", CVAE, "--digit", "7").code == 0
    data = (tmp_path / "seven.vz").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    assert meta["vaezip"] == "2" and json.loads(meta["images"])[0]["digit"] == 7
    r = run_cli("decode", tmp_path / "seven.vz", "-o", tmp_path / "back.png")
    assert r.code == 0, r
    r = run_cli("encode", tmp_path / "seven.png", "--digit", "7", "-o", tmp_path / "x.vz")
    assert r.code == 2 and "needs a conditional model" in r.err


def test_digits_in_the_format():
    from dataclasses import replace

    from conftest import dumps, make_vz, rewrite

    plain = dumps(make_vz(1))
    assert b'"vaezip":"1"' in plain  # files without digits stay readable by version 1
    vz = make_vz(2)
    vz.images = [replace(p, digit=d) for p, d in zip(vz.images, (3, 9), strict=True)]
    back = codec.loads(dumps(vz), "x.vz")
    assert [p.digit for p in back.images] == [3, 9]
    broken = rewrite(dumps(vz), lambda h: h["__metadata__"].update(
        images='[{"name":"d0.png","digit":-3},{"name":"d1.png","digit":9}]'))
    with pytest.raises(FormatError, match="digit"):
        codec.loads(broken, "x.vz")
