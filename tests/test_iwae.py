"""The importance-weighted NLL estimate and the binarisation protocol."""

import pytest
import torch

from vaezip.models.registry import load_model
from vaezip.training.datasets import binarize, load_mnist, to_model_space
from vaezip.training.evaluate import evaluate, full_report, importance_weighted_nll


@pytest.fixture(scope="module")
def batch(mini_mnist_dir):
    images = to_model_space(load_mnist(mini_mnist_dir, train=False, download=False).images)
    return images[:200]


@pytest.mark.parametrize("name", ["mnist-vae-16d", "mnist-vae-2d-mse"])
def test_iwae_is_below_the_elbo_and_tightens_with_k(batch, name):
    model, _ = load_model(name)
    neg_elbo = evaluate(model, batch)["neg_elbo"]
    if model.config.likelihood == "gaussian":  # the IWAE keeps the density's constant
        neg_elbo += 0.5 * 784 * torch.log(torch.tensor(2 * torch.pi)).item()
    nll = {k: importance_weighted_nll(model, batch, k=k, seed=1).mean().item()
           for k in (1, 10, 100)}
    assert abs(nll[1] - neg_elbo) < 0.02 * abs(neg_elbo) + 1  # k = 1 is the ELBO
    assert nll[100] < nll[10] < nll[1]
    assert nll[100] <= neg_elbo


def test_iwae_chunks_do_not_change_the_estimate(batch):
    model, _ = load_model("mnist-vae-16d")
    a = importance_weighted_nll(model, batch[:20], k=60, chunk=60, seed=3)
    b = importance_weighted_nll(model, batch[:20], k=60, chunk=7, seed=3)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-3)


def test_binarisation_is_seeded_and_unbiased(batch):
    one, again, other = binarize(batch, 0), binarize(batch, 0), binarize(batch, 1)
    assert torch.equal(one, again) and not torch.equal(one, other)
    assert set(one.unique().tolist()) <= {0.0, 1.0}
    assert abs(one.mean().item() - batch.mean().item()) < 0.01


def test_full_report_for_every_kind(batch):
    vae, _ = load_model("mnist-vae-16d")
    r = full_report(vae, batch, iw_samples=20)
    for key in ("neg_elbo", "iw_nll", "iw_bits_per_dim", "binarized_neg_elbo",
                "binarized_iw_nll", "binarized_iw_bits_per_dim", "psnr", "iw_seconds"):
        assert key in r, key
    assert r["binarized_iw_nll"] <= r["binarized_neg_elbo"] + 1
    ae, _ = load_model("mnist-ae-2d")
    r = full_report(ae, batch, iw_samples=20)
    assert "iw_nll" not in r and "does not apply" in r["likelihood"] and r["psnr"] > 0
