"""Lossless files decode on any machine (issue 14): the integer network and tables of
codecs/exact.py, and decoding in fresh processes under other BLAS kernels, one thread and
no AVX-512, where the float coder of format 3 failed."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MINI
from PIL import Image

from vaezip.codecs import bitsback, exact

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
# The lossless models: plain decoder, 16 pixel groups, the same with 5 logistics, and
# local heads (the --lossless default since issue 30).
PLAIN, GROUPS, M5 = "mnist-vae-lossless", "mnist-vae-lossless-16g", "mnist-vae-lossless-16g-m5-60e"
LOCAL = "mnist-vae-lossless-local"
# What a machine other than the writer's may differ in (issue 14's defect report).
FOREIGN = {
    "one thread": {"OPENBLAS_NUM_THREADS": "1"},
    "Haswell kernels": {"OPENBLAS_CORETYPE": "Haswell"},
    "Prescott kernels": {"OPENBLAS_CORETYPE": "Prescott"},
    "no AVX-512": {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"},
}


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    with np.load(MINI) as mini:
        return mini["test_images"][:40].reshape(40, -1)


@pytest.fixture(scope="module")
def shipped():
    """The plain-decoder lossless model (its decoder gives every pixel's masses at once)."""
    from vaezip.models.runtime import load

    return load("mnist-vae-lossless").exact


@pytest.fixture(scope="module")
def grouped():
    """The pixel-group lossless model (issue 17)."""
    from vaezip.models.runtime import load

    return load("mnist-vae-lossless-16g").exact


def test_the_logistic_table_is_what_decimal_arithmetic_gives():
    table = np.frombuffer(exact.CDF_FILE.read_bytes(), "<u2").reshape(exact.LOG_SCALE_COUNT, -1)
    assert table.shape == (exact.LOG_SCALE_COUNT, exact.OFFSETS)
    full = exact.build_logistic_cdf()  # a few seconds: every row, as shipped
    assert np.array_equal(full, table)
    assert (np.diff(table.astype(int), axis=1) >= 0).all() and (table[:, 0] == 1 << 14).all()


def test_the_exp_tables_are_what_decimal_arithmetic_gives():
    shipped = np.frombuffer(exact.EXP_FILE.read_bytes(), "<i8")
    assert np.array_equal(exact.build_exp_tables(), shipped)
    assert exact.sigma_table()[-exact.LOGVAR_LOW] == exact.SIGMA_UNITS  # exp(0) = 1
    assert exact.mixture_exp_table()[0] == 4096 and len(exact.mixture_exp_table()) == 256


def test_probabilities_are_integers_with_the_promised_totals(shipped, digits):
    post = shipped.posterior_masses(digits[:5])  # [5 * K, Z_SYMBOLS]
    assert post.dtype == np.float64 and (post == np.round(post)).all() and (post >= 0).all()
    assert (post.sum(axis=1) == 2.0**48).all()  # exact: integers below 2^53
    prior = exact.prior_masses()
    assert (prior == np.round(prior)).all() and prior.sum() <= 2.0**48
    z = np.random.default_rng(0).integers(-300, 300, (5, shipped.config.latent_dim))
    pixels = shipped.pixel_masses(z)  # [5 * 784, 256]
    assert pixels.dtype == np.float32 and (pixels == np.round(pixels)).all()
    assert (pixels >= 1).all()  # every level can be coded
    assert (pixels.astype(np.int64).sum(axis=1) == (1 << 23) + 256).all()


def test_group_heads_give_integer_masses_with_the_promised_totals(grouped, digits):
    z = np.random.default_rng(0).integers(-300, 300, (5, grouped.config.latent_dim))
    h = grouped.trunk(z)
    assert (h == np.round(h)).all() and h.min() >= 0 and h.max() <= exact.ACT_MAX
    for g in (0, 7, 15):
        masses = grouped.group_masses(g, h, digits[:5])  # [5 * 49, 256]
        assert masses.dtype == np.float32 and (masses == np.round(masses)).all()
        assert (masses >= 1).all()
        assert (masses.astype(np.int64).sum(axis=1) == (1 << 23) + 256).all()


@pytest.mark.parametrize("max_error", [1, 4, 16])
def test_bin_masses_are_the_sums_of_their_levels_masses(shipped, grouped, digits, max_error):
    """Near-lossless takes a bin's mass from the CDF at its edges: the same integers as
    summing its levels' masses; an encoder's masses of all groups at once are each group's."""
    from vaezip.codecs.bitsback import level_bins

    starts, _ = level_bins(max_error)
    z = np.random.default_rng(1).integers(-300, 300, (4, shipped.config.latent_dim))
    levels = shipped.pixel_masses(z)
    assert np.array_equal(shipped.pixel_masses(z, starts),
                          np.add.reduceat(levels, starts, axis=1))
    h = grouped.trunk(z)
    together = grouped.all_group_masses(h, digits[:4], starts)
    for g in range(grouped.config.groups):
        levels = grouped.group_masses(g, h, digits[:4])
        binned = grouped.group_masses(g, h, digits[:4], starts)
        assert np.array_equal(binned, np.add.reduceat(levels, starts, axis=1))
        assert np.array_equal(together[g], binned)


def test_inputs_that_are_0_in_every_image_are_skipped_exactly(grouped, digits):
    """The first layer sums only the inputs that are not 0 in every image of the batch: the
    same integers as the full product (one image alone has more zero inputs than several)."""
    both = grouped.posterior(digits[:2])
    alone = [grouped.posterior(digits[i : i + 1]) for i in range(2)]
    for i in range(2):
        assert all(np.array_equal(a[i], b[0]) for a, b in zip(both, alone[i], strict=True))
    weight, bias, _ = grouped._encoder[0]
    full = digits[:1].astype(np.float64) @ weight + bias
    used = np.flatnonzero(digits[0])
    assert len(used) < 0.9 * digits.shape[1]  # the skipping path is the one taken
    assert np.array_equal(full, digits[:1, used].astype(np.float64) @ weight[used] + bias)


def test_sums_past_float64s_exact_integers_are_refused():
    from vaezip.models.config import ModelConfig, mlp_parameter_names

    config = ModelConfig(arch="vae", likelihood="logistic", latent_dim=2, hidden=(4,))
    tensors = {}
    for prefix, sizes in (("encoder", config.encoder_sizes()),
                          ("decoder", config.decoder_sizes())):
        for (w, b), (n_in, n_out) in zip(mlp_parameter_names(prefix, sizes),
                                         zip(sizes[:-1], sizes[1:], strict=True), strict=True):
            tensors[w] = np.full((n_out, n_in), 0.1, np.float32)
            tensors[b] = np.zeros(n_out, np.float32)
    exact.ExactModel(config, tensors)
    tensors["decoder.2.weight"] = np.full_like(tensors["decoder.2.weight"], 1e9)
    with pytest.raises(ValueError, match="past float64's exact integers"):
        exact.ExactModel(config, tensors)


def test_the_exact_coder_round_trips_and_matches_the_float_coders_rate(shipped, digits):
    data = bitsback.encode_exact(shipped, digits)
    assert np.array_equal(bitsback.decode_exact(shipped, data, len(digits), 784), digits)
    assert 8 * len(data) / digits.size < 1.8  # PNG: ~2.8; bench/lossless.py has the full set
    one = bitsback.encode_exact(shipped, digits[:1])
    assert np.array_equal(bitsback.decode_exact(shipped, one, 1, 784), digits[:1])
    assert bitsback.chunks(40, bitsback.EXACT_GROWTH)[:4] == [(0, 1), (1, 3), (3, 7), (7, 15)]


def test_the_group_model_codes_real_digits_below_the_plain_one(shipped, grouped, digits):
    data = bitsback.encode_exact(grouped, digits)
    assert np.array_equal(bitsback.decode_exact(grouped, data, len(digits), 784), digits)
    plain = bitsback.encode_exact(shipped, digits)
    assert len(data) < 0.97 * len(plain), (len(data), len(plain))  # the full set: ~6% less


def test_the_local_model_codes_real_digits_below_the_dense_one(digits):
    """Issue 30: local heads beat the dense 5-logistic heads they replaced as the default."""
    from vaezip.models.runtime import load

    local, dense = load(LOCAL).exact, load(M5).exact
    data = bitsback.encode_exact(local, digits)
    assert np.array_equal(bitsback.decode_exact(local, data, len(digits), 784), digits)
    dense_bytes = len(bitsback.encode_exact(dense, digits))
    assert len(data) < 0.96 * dense_bytes, (len(data), dense_bytes)  # the full set: 6% less


def _vaezip(args, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vaezip", *map(str, args)], cwd=cwd,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("setting", sorted(FOREIGN))
def test_files_decode_and_encode_identically_under_foreign_cpu_settings(setting, tmp_path):
    """The format-4 goldens decode pixel for pixel; encoding their inputs gives the same
    bytes; and the lossy coded mode gives the same bytes too, the identity guard's choice of
    which digits to code near-lossless included."""
    env = FOREIGN[setting]
    originals = sorted((GOLDEN / "in" / "digits").rglob("*.png"))
    for archive, bound in (("lossless4-pack.vz", 0), ("framed-lossless-pack.vz", 0),
                           ("near-pack.vz", 2),  # formats 4, 5 and 7
                           ("groups-lossless-pack.vz", 0), ("groups-near-pack.vz", 2),
                           ("compact-lossless-pack.vz", 0), ("compact-near-pack.vz", 2),
                           ("local-lossless-pack.vz", 0), ("local-near-pack.vz", 2)):
        out = tmp_path / f"decoded-{archive}"
        r = _vaezip(["decode", GOLDEN / archive, "-o", out, "-q"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        for original in originals:
            relative = original.relative_to(GOLDEN / "in" / "digits")
            back = np.asarray(Image.open(out / relative), int)
            assert np.abs(back - np.asarray(Image.open(original), int)).max() <= bound
            # ... and exactly what the machine that made the golden decoded
            made = GOLDEN / "out" / archive.removesuffix(".vz") / relative
            assert np.array_equal(back, np.asarray(Image.open(made), int))
    for golden, source, args in (
            ("compact-lossless-pack.vz", "digits", ["--pack", "--lossless", "-m", M5]),
            ("short-m5-lossless-seven.vz", "digits/d0.png", ["--lossless", "-m", M5]),
            ("local-lossless-pack.vz", "digits", ["--pack", "--lossless"]),  # the default
            ("short-local-lossless-seven.vz", "digits/d0.png", ["--lossless", "-m", LOCAL]),
            ("local-near-pack.vz", "digits", ["--pack", "-e", "2", "-m", LOCAL]),
            ("compact-pack.vz", "digits", ["--pack"]), ("short-seven.vz", "seven.png", []),
            ("short-lossless-seven.vz", "digits/d0.png", ["--lossless", "-m", GROUPS]),
            ("compact-scored-pack.vz", "mixed", ["--pack"]),  # with the nondigit scores
            ("short-near-seven.vz", "digits/d0.png", ["--max-error", "4", "-m", GROUPS]),
            ("compact-near-pack.vz", "digits", ["--pack", "-e", "2", "-m", M5]),
            ("compact-guarded-pack.vz", "guarded", ["--pack"])):  # the identity guard's choices
        source = GOLDEN / "in" / source
        out = tmp_path / golden
        r = _vaezip(["encode", source, *args, "-o", out, "-q"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == (GOLDEN / golden).read_bytes(), (setting, golden)


def test_format_3_lossless_files_that_cannot_decode_here_say_why(tmp_path):
    """A format-3 file took its probabilities from floats: under other kernels it may not
    decode. Then the message says why and how to recover, and nothing is written."""
    r = _vaezip(["decode", GOLDEN / "lossless-pack.vz", "-o", tmp_path / "out", "-q"],
                FOREIGN["Haswell kernels"], tmp_path)
    if r.returncode == 0:  # this machine's Haswell kernels round as the writer's did:
        for made in sorted((GOLDEN / "out" / "lossless-pack").rglob("*.png")):  # exactly
            back = tmp_path / "out" / made.relative_to(GOLDEN / "out" / "lossless-pack")
            assert np.array_equal(np.asarray(Image.open(back)), np.asarray(Image.open(made)))
        return
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "format-3 lossless file" in r.stderr
    assert "Decode it on the machine that wrote it" in r.stderr
    assert not (tmp_path / "out").exists()
