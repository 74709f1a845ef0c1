import json

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from vaezip.errors import ModelFileError
from vaezip.models.config import ModelConfig
from vaezip.models.torch_nets import VAE, AutoEncoder, build_model, gaussian_kl


def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(32, 16, generator=gen) * 2
    logvar = torch.randn(32, 16, generator=gen)
    expected = kl_divergence(
        Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    ).sum(dim=1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, rtol=1e-5, atol=1e-5)


def test_kl_is_zero_only_at_the_prior():
    zeros = torch.zeros(4, 8)
    assert torch.all(gaussian_kl(zeros, zeros) == 0)
    assert torch.all(gaussian_kl(zeros + 0.1, zeros) > 0)


def _batch(seed=0, n=8):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 784, generator=gen)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_loss_is_recon_plus_kl_in_nats_per_image(likelihood):
    torch.manual_seed(0)
    model = VAE(ModelConfig(likelihood=likelihood, latent_dim=4, hidden=(32,)))
    x = _batch()
    gen = torch.Generator().manual_seed(1)
    terms = model.loss(x, generator=gen)
    # Recompute by hand with the same noise.
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
    z = mu + eps * (0.5 * logvar).exp()
    x_hat = model.decode(z)
    if likelihood == "bernoulli":
        recon = F.binary_cross_entropy(x_hat, x, reduction="sum") / len(x)
    else:
        recon = 0.5 * (x_hat - x).pow(2).sum() / len(x)
    kl = gaussian_kl(mu, logvar).mean()
    torch.testing.assert_close(terms.recon, recon, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.loss, recon + kl, rtol=1e-4, atol=1e-3)


def test_autoencoder_latent_is_a_sigmoid_and_loss_is_squared_error():
    torch.manual_seed(0)
    model = AutoEncoder(ModelConfig(arch="ae", latent_dim=2, hidden=(32,)))
    x = _batch()
    z = model.encode(x)
    assert z.shape == (8, 2) and torch.all((z > 0) & (z < 1))
    terms = model.loss(x)
    expected = (model.decode(z) - x).pow(2).sum() / len(x)
    torch.testing.assert_close(terms.loss, expected)
    assert terms.kl.item() == 0.0


def test_config_round_trips_and_validates():
    config = ModelConfig(arch="vae", likelihood="gaussian", latent_dim=3, hidden=(64, 32))
    assert ModelConfig.from_json(config.to_json()) == config
    assert ModelConfig(arch="ae").likelihood == "none"
    with pytest.raises(ValueError, match="arch"):
        ModelConfig(arch="gan")
    with pytest.raises(ValueError, match="likelihood"):
        ModelConfig(likelihood="poisson")
    with pytest.raises(ValueError, match="latent_dim"):
        ModelConfig(latent_dim=0)
    with pytest.raises(ModelFileError, match="unknown config fields"):
        ModelConfig.from_json(json.dumps({"arch": "vae", "evil": 1}))


def test_models_rebuild_from_config_with_expected_shapes():
    for config in (ModelConfig(arch="ae", latent_dim=2, hidden=(16,)),
                   ModelConfig(latent_dim=5, hidden=(16, 8))):
        model = build_model(config)
        x = _batch(n=3)
        assert model.mean_reconstruction(x).shape == (3, 784)
        assert model.prior_sample(4).shape == (4, config.latent_dim)
