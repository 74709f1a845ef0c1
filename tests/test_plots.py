"""Each figure kind writes a valid PNG of the expected size, from a tiny model."""

import io

import numpy as np
import pytest
import torch
from conftest import save_model
from PIL import Image

from vaezip.models import registry
from vaezip.models.config import ModelConfig
from vaezip.models.torch_nets import build_model
from vaezip.training.figures import DPI, interpolation_path, manifold_axes, project_2d


@pytest.fixture
def tiny(vaezip_home):
    """Untrained tiny models in the user registry: 2-D VAE, 5-D VAE and 2-D AE."""
    names = {}
    for name, config in (("tiny-vae", ModelConfig(latent_dim=2, hidden=(16,))),
                         ("tiny-vae5", ModelConfig(latent_dim=5, hidden=(16,))),
                         ("tiny-ae", ModelConfig(arch="ae", latent_dim=2, hidden=(16,)))):
        torch.manual_seed(0)
        save_model(build_model(config), registry.user_models_dir()
                            / f"{name}.safetensors", name)
        names[name] = config
    return names


def png_size(path):
    image = Image.open(path)
    image.verify()  # a valid PNG, not just a file
    assert Image.open(path).format == "PNG"
    return Image.open(path).size


GRID = lambda cols, rows: (cols * 30 + 2, rows * 30 + 2)  # noqa: E731 28 px tiles, 2 px padding


@pytest.mark.parametrize("model", ["tiny-vae", "tiny-ae", "tiny-vae5"])
def test_every_plot_kind_writes_a_png_of_the_expected_size(run_cli, tmp_path, mini_mnist_dir,
                                                           tiny, model):
    common = ["--model", model, "--data-dir", mini_mnist_dir, "--no-download"]
    expected = {
        "recon": (["-n", "16"], GRID(8, 4)),  # 2 rows of inputs above 2 rows of recons
        "samples": (["-n", "24"], GRID(8, 3)),
        "manifold": (["-n", "10"], (8 * DPI, 8 * DPI)),
        "latent": ([], (7 * DPI, 6 * DPI)),
    }
    for kind, (extra, size) in expected.items():
        out = tmp_path / f"{kind}.png"
        r = run_cli("plot", kind, *common, *extra, "-o", out)
        assert r.code == 0, r
        assert png_size(out) == size, kind
    r = run_cli("plot", "latent", *common, "--per-digit", "-o", tmp_path / "pd.png")
    assert r.code == 0 and png_size(tmp_path / "pd.png") == (14 * DPI, 6 * DPI)


def test_interpolate_between_two_vz_files(run_cli, tmp_path):
    for i, index in enumerate((0, 1)):
        from images import mnist_digit

        Image.fromarray(mnist_digit(index)).save(tmp_path / f"{i}.png")
        assert run_cli("encode", tmp_path / f"{i}.png").code == 0
    out = tmp_path / "path.png"
    r = run_cli("plot", "interpolate", tmp_path / "0.vz", tmp_path / "1.vz", "-n", "7",
                "--scale", "1",
                "--spherical", "-o", out)
    assert r.code == 0, r
    assert png_size(out) == GRID(7, 1)
    r = run_cli("plot", "interpolate", tmp_path / "0.vz", "-o", tmp_path / "x.png")
    assert r.code == 2 and "two .vz" in r.err
    r = run_cli("plot", "interpolate", tmp_path / "0.vz", tmp_path / "1.vz", "-m",
                "mnist-ae-2d", "-o", tmp_path / "x.png")
    assert r.code == 2 and "made by mnist-bvae-32d" in r.err


def test_plot_usage_errors(run_cli, tmp_path, tiny):
    assert run_cli("plot", "violin", "-m", "tiny-vae").code == 2
    assert run_cli("plot", "samples", "-m", "tiny-vae", "-n", "0").code == 2
    assert run_cli("plot", "samples", "-m", "nope").code == 1
    out = tmp_path / "s.png"
    out.write_bytes(b"keep")
    r = run_cli("plot", "samples", "-m", "tiny-vae", "-o", out)
    assert r.code == 1 and "--force" in r.err and out.read_bytes() == b"keep"


def test_manifold_grids_follow_the_latent_geometry(tiny):
    vae, _ = registry.load_model("tiny-vae")
    ae, _ = registry.load_model("tiny-ae")
    a = manifold_axes(ae, 4)
    assert torch.allclose(a, torch.tensor([0.125, 0.375, 0.625, 0.875]))
    v = manifold_axes(vae, 4)  # equal prior mass per cell: the quartiles' midpoints
    assert torch.allclose(torch.distributions.Normal(0, 1).cdf(v), a, atol=1e-6)


def test_pca_projection_and_paths():
    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(500, 6, generator=gen) * torch.tensor([5.0, 3, 0.1, 0.1, 0.1, 0.1])
    xy, how = project_2d(codes)
    assert xy.shape == (500, 2) and "PCA of the 6-D latent" in how
    assert float(xy.var(0).sum() / codes.var(0).sum()) > 0.99
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    line = interpolation_path(a, b, 5)
    arc = interpolation_path(a, b, 5, spherical=True)
    assert torch.allclose(line[0], a) and torch.allclose(line[-1], b)
    assert torch.allclose(arc[0], a) and torch.allclose(arc[-1], b, atol=1e-6)
    assert arc[2].norm() > line[2].norm()  # the circle does not cut through the middle
    assert np.isfinite(arc.numpy()).all()


def test_png_bytes_are_images():
    from vaezip.training.figures import samples

    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,)))
    png = samples(model, n=3)
    assert Image.open(io.BytesIO(png)).size == GRID(3, 1)
