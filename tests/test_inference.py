"""The NumPy inference path (encode/decode) against the torch models (train/eval)."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import config_mlps

from vaezip.models.config import ModelConfig, mlp_parameter_names
from vaezip.models.registry import load_inference, load_model
from vaezip.models.torch_nets import build_model
from vaezip.training.datasets import load_mnist, to_model_space

SHIPPED = ["mnist-ae-2d", "mnist-vae-2d-mse", "mnist-vae-2d-bce", "mnist-vae-16d",
           "mnist-bvae-32d", "mnist-vae-lossless", "mnist-vae-lossless-16g"]


@pytest.mark.parametrize("config", [
    ModelConfig(arch="ae", latent_dim=2, hidden=(8, 4)),
    ModelConfig(latent_dim=3, hidden=(16, 8, 4)),
    ModelConfig(likelihood="logistic", latent_dim=3, hidden=(16, 8), groups=4)])
def test_the_parameter_names_are_those_the_torch_modules_have(config):
    names = {n for prefix, sizes in config_mlps(config)
             for pair in mlp_parameter_names(prefix, sizes) for n in pair}
    assert names == set(build_model(config).state_dict())


def _compare(name: str, images: torch.Tensor) -> None:
    net, _ = load_model(name)
    fast, _ = load_inference(name)
    x = images.numpy()
    with torch.inference_mode():
        if net.config.arch == "ae":
            mu_t = net.encode(images)
            sigma_t = torch.zeros_like(mu_t)
        else:
            mu_t, logvar = net.encode(images)
            sigma_t = torch.exp(0.5 * logvar)
        x_hat_t = net.decode(mu_t)
    mu, sigma = fast.encode(x)
    np.testing.assert_allclose(mu, mu_t.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sigma, sigma_t.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.decode(mu_t.numpy()), x_hat_t.numpy(), atol=2e-5)


@pytest.mark.parametrize("name", SHIPPED)
def test_numpy_matches_torch_on_the_mini_test_set(name, mini_mnist_dir):
    images = to_model_space(load_mnist(mini_mnist_dir, train=False, download=False).images)
    _compare(name, images)


@pytest.mark.parametrize("name", SHIPPED)
def test_numpy_matches_torch_on_the_whole_test_set(name, shared_data):
    images = to_model_space(load_mnist(shared_data, train=False, download=False).images)
    _compare(name, images)


def test_encode_and_decode_never_import_torch(tmp_path):
    code = f"""
import sys
from PIL import Image
import numpy as np
Image.fromarray((np.arange(784).reshape(28, 28) % 256).astype(np.uint8)).save(r"{tmp_path}/d.png")
from vaezip.cli import main
for args in (["encode", r"{tmp_path}/d.png", "-q"],
             ["decode", r"{tmp_path}/d.vz", "-o", r"{tmp_path}/o.png", "--sample", "-q"],
             ["encode", r"{tmp_path}/d.png", "--lossless", "-o", r"{tmp_path}/l.vz", "-q"],
             ["decode", r"{tmp_path}/l.vz", "-o", r"{tmp_path}/l.png", "-q"]):
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code, exc.code
print(sorted(m for m in ("torch", "torchvision") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"VAEZIP_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
