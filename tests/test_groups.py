"""Pixel-group decoders (issue 17): the config's groups, the torch model's teacher-forced
likelihood, the NumPy decoder, and exact bits-back coding group by group."""

import math

import numpy as np
import pytest
import torch
from conftest import MINI, config_mlps

from vaezip.codecs import bitsback
from vaezip.codecs.exact import ExactModel
from vaezip.models.config import ModelConfig, block_positions
from vaezip.models.numpy_nets import NumpyModel
from vaezip.models.torch_nets import GroupVAE, build_model, logistic_mixture_nll

SMALL = ModelConfig(arch="vae", likelihood="logistic", latent_dim=4, hidden=(48, 48), groups=4)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    with np.load(MINI) as mini:
        return mini["test_images"][:24].reshape(24, -1)


@pytest.fixture(scope="module")
def small():
    """A freshly initialised small group model and its float16 tensors, as stored."""
    torch.manual_seed(3)
    model = build_model(SMALL).eval()
    tensors = {k: v.half().numpy() for k, v in model.state_dict().items()}
    model.load_state_dict({k: torch.from_numpy(v).float() for k, v in tensors.items()})
    return model, tensors


def test_groups_cover_every_pixel_once_coarse_to_fine():
    config = ModelConfig(likelihood="logistic", latent_dim=4, groups=16)
    groups = config.pixel_groups()
    assert len(groups) == 16 and all(len(g) == 49 for g in groups)
    assert sorted(p for g in groups for p in g) == list(range(784))
    assert groups[0][:3] == [0, 4, 8] and groups[0][7] == 4 * 28  # every 4th row and column
    assert groups[1][0] == 2 * 28 + 2  # then the centres of those 4 x 4 cells
    assert block_positions(2) == [(0, 0), (1, 1), (0, 1), (1, 0)]  # a checkerboard first
    assert len(set(block_positions(8))) == 64


def test_group_configs_are_checked_and_plain_configs_keep_their_json():
    with pytest.raises(ValueError, match="groups must be one of"):
        ModelConfig(likelihood="logistic", groups=8)
    with pytest.raises(ValueError, match="logistic likelihood"):
        ModelConfig(likelihood="bernoulli", groups=4)
    assert "groups" not in ModelConfig(likelihood="logistic").to_json()  # hashes unchanged
    assert ModelConfig.from_json(SMALL.to_json()) == SMALL
    assert isinstance(build_model(SMALL), GroupVAE)
    assert [p for p, _ in config_mlps(SMALL)] == ["encoder", "decoder", "heads.0", "heads.1",
                                            "heads.2", "heads.3"]


def test_each_group_sees_z_and_only_the_groups_before_it(small, digits):
    model, _ = small
    x = torch.from_numpy(digits).float() / 255
    z = torch.randn(len(x), SMALL.latent_dim, generator=torch.Generator().manual_seed(0))
    groups = SMALL.pixel_groups()
    with torch.no_grad():
        params = model.decoder_logits(z, x=x).view(len(x), 3, SMALL.mixture, -1)
        for g, pixels in enumerate(groups):
            changed = x.clone()
            changed[:, pixels] = 1 - changed[:, pixels]
            other = model.decoder_logits(z, x=changed).view(len(x), 3, SMALL.mixture, -1)
            for h, later in enumerate(groups):
                same = torch.equal(params[..., later], other[..., later])
                assert same == (h <= g), (g, h)
        # The likelihood is the sum of the groups' likelihoods, each given the true pixels.
        total = model.reconstruction_nll(x, z)
        by_group = sum(logistic_mixture_nll(params[..., p].flatten(1), x[:, p], SMALL.mixture)
                       for p in groups)
    assert torch.allclose(total, by_group, rtol=1e-5)


def test_the_numpy_decoder_decodes_group_by_group_as_torch_does(small):
    model, tensors = small
    z = np.random.default_rng(1).standard_normal((5, SMALL.latent_dim)).astype(np.float32)
    with torch.no_grad():
        expected = model.decode(torch.from_numpy(z)).numpy()
    got = NumpyModel(SMALL, tensors).decode(z)
    assert got.shape == (5, 784) and np.allclose(got, expected, atol=1e-4)
    with pytest.raises(ValueError, match="pixel groups"):
        NumpyModel(SMALL, tensors).pixel_pmf(z)


def test_exact_group_probabilities_match_the_float_model(small, digits):
    """The integer heads compute what the float model does, to the grids' precision: the
    code length of the pixels under the exact masses is within 1% of the float NLL."""
    model, tensors = small
    exact = ExactModel(SMALL, tensors)
    z_index = np.random.default_rng(2).integers(-200, 200, (len(digits), SMALL.latent_dim))
    h = exact.trunk(z_index)
    bits = 0.0
    for g, pixels in enumerate(exact.pixel_groups):
        masses = exact.group_masses(g, h, digits).astype(np.float64)  # [n * |g|, 256]
        assert (masses >= 1).all() and (masses.sum(1) == (1 << 23) + 256).all()
        picked = masses[np.arange(len(masses)), digits[:, pixels].ravel()]
        bits -= np.log2(picked / masses.sum(1)).sum()
        # Levels of this group and later ones are not read.
        changed = digits.copy()
        changed[:, exact.pixel_groups[g]] ^= 0xFF
        assert np.array_equal(exact.group_masses(g, h, changed), masses.astype(np.float32))
    with torch.no_grad():
        z = torch.from_numpy(z_index / 128).float()
        nll = model.reconstruction_nll(torch.from_numpy(digits).float() / 255, z).sum()
    assert bits == pytest.approx(float(nll) / math.log(2), rel=0.01)


@pytest.mark.parametrize("max_error", [0, 3])
def test_the_exact_coder_round_trips_group_by_group(small, digits, max_error):
    _, tensors = small
    exact = ExactModel(SMALL, tensors)
    data = bitsback.encode_exact(exact, digits, max_error)
    back = bitsback.decode_exact(exact, data, len(digits), 784, max_error)
    assert np.abs(back.astype(int) - digits).max() <= max_error
    if not max_error:
        assert np.array_equal(back, digits)
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x10
    try:
        wrong = bitsback.decode_exact(exact, bytes(damaged), len(digits), 784, max_error)
    except Exception as exc:  # the coder notices, or the pixels differ (the checksum's job)
        assert type(exc).__name__ == "FormatError"
    else:
        assert not np.array_equal(wrong, back)


def test_dropout_acts_only_in_training_and_repeats_with_its_generator(digits):
    """TrainSettings.dropout (issue 17): masks drawn from the loss's generator, so a resumed
    run repeats; evaluation and coding see the whole network."""
    from vaezip.errors import OptionError
    from vaezip.training.settings import TrainSettings

    torch.manual_seed(0)
    model = build_model(SMALL)
    model.dropout = 0.5
    x = torch.from_numpy(digits[:8]).float() / 255

    def loss(seed):
        return model.loss(x, generator=torch.Generator().manual_seed(seed)).recon.item()

    model.train()
    assert loss(1) == loss(1)
    model.dropout = 0.0
    undropped = loss(1)
    model.dropout = 0.5
    assert loss(1) != undropped
    model.eval()
    dropped = loss(1)
    model.dropout = 0.0
    assert loss(1) == dropped  # eval: no dropout, whatever the setting
    with pytest.raises(OptionError, match="dropout"):
        TrainSettings(dropout=1.0)
