"""The coded .vz: sigma-aware grids, integer entropy models, ANS, checksums."""

import numpy as np
import pytest

from vaezip.codecs import entropy

UNITS = [120, 300, 4096, 700, 2047, 2048]  # two dims the model does not use (>= 0.5)


def test_the_shipped_normal_cdf_table_is_the_exact_decimal_computation():
    table = np.frombuffer(entropy.CDF_FILE.read_bytes(), dtype="<u8")
    assert np.array_equal(table, entropy.build_normal_cdf())
    full = entropy.normal_cdf()
    assert full[0] == 0 and full[-1] == entropy.CDF_SCALE
    assert (np.diff(full) >= 0).all()
    # Phi(1) = 0.841344746068543 (to 15 digits), at k = 512 from the centre.
    assert abs(full[len(full) // 2 + 512] / entropy.CDF_SCALE - 0.841344746068543) < 1e-15


@pytest.mark.parametrize("step", [1, 3, 64, 700, 4096])
def test_bin_masses_are_exact_integers_that_sum_to_one(step):
    mass = entropy._bin_probabilities(step)
    assert (mass == np.floor(mass)).all() and (mass >= 0).all()
    assert int(mass.sum()) == entropy.CDF_SCALE  # no float rounding anywhere
    assert len(mass) % 2 == 1  # symmetric around bin 0


def test_grids_follow_sigma_and_skip_unused_dims():
    grid = entropy.make_grid(UNITS, 5)  # step = 1 sigma
    assert grid.dims == (0, 1, 3, 4)  # 4096 and 2048 (sigma >= 0.5) are not coded
    assert grid.steps == (8, 19, 44, 128)  # round(256 * units / 4096)
    coarse, fine = entropy.make_grid(UNITS, 1), entropy.make_grid(UNITS, 8)
    assert all(c > m > f for c, m, f in zip(coarse.steps, grid.steps, fine.steps, strict=True))
    with pytest.raises(ValueError):
        entropy.make_grid(UNITS, 9)


@pytest.mark.parametrize("quality", sorted(entropy.QUALITY_STEPS))
def test_quantise_code_decode_gives_back_the_same_integers(quality):
    rng = np.random.default_rng(quality)
    mu = rng.standard_normal((500, len(UNITS))) * 1.2
    mu[0, 0], mu[1, 1] = 40.0, -1e6  # far outside the table: clipped, still coded
    grid = entropy.make_grid(UNITS, quality)
    index = entropy.quantise(mu, grid)
    data = entropy.encode_indices(index, grid)
    assert np.array_equal(entropy.decode_indices(data, grid, len(mu)), index)
    for i in range(5):  # one image alone: its own stream
        alone = entropy.encode_indices(index[i : i + 1], grid)
        assert np.array_equal(entropy.decode_indices(alone, grid, 1), index[i : i + 1])
    decoded, sigma = entropy.dequantise(index, grid, len(UNITS), UNITS)
    inside = np.abs(mu) < 5
    error = np.abs(decoded - mu)[:, list(grid.dims)][inside[:, list(grid.dims)]]
    assert (error <= grid.deltas.max() / 2 + 1e-9).all()
    assert (decoded[:, [2, 5]] == 0).all() and sigma.shape == mu.shape


def test_the_bitstream_is_pinned_so_every_platform_writes_and_reads_the_same_bytes():
    # Encoder and decoder agree bit for bit only if every machine builds the same tables.
    # These bytes were written on x86_64 Linux; another platform must reproduce them.
    grid = entropy.make_grid(UNITS, 4)
    index = np.array([[0, 1, -2, 3], [-5, 0, 7, 1], [2, -1, 0, 0]], dtype=np.int32)
    data = entropy.encode_indices(index, grid)
    assert data.hex() == PINNED_STREAM
    assert np.array_equal(entropy.decode_indices(bytes.fromhex(PINNED_STREAM), grid, 3), index)


PINNED_STREAM = "35d5878c1bed80f74103"


def test_sigma_estimate_is_a_geometric_mean_in_integer_units():
    sigma = np.array([[0.5, 1.0], [0.125, 1.0]])
    assert entropy.estimate_sigma_units(sigma) == [1024, 4096]
