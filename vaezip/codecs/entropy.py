"""Entropy coding of quantised latents: sigma-aware grids, the prior as integer tables, and
constriction's ANS coder. numpy + constriction only (no torch).

Each latent dimension i of a model gets a uniform grid with step
    delta_i = quality step x sigma_i,
where sigma_i is the dimension's typical posterior width (the geometric mean of sigma over
the training set, stored with the model): a dimension the encoder pins down tightly gets a
fine grid, one it hardly uses (sigma_i near 1) a coarse one or none at all. The integer
index n = round(mu / delta) is coded under the prior N(0, 1) integrated over its bin.

Encoder and decoder must build bit-identical probability tables, on any machine: a
learned codec whose two sides compute the model in floats drifts apart on a different
libm or BLAS and then decodes garbage. So nothing on the coding path is a float
computed at run time. Steps are integers in units of 1/STEP_UNITS, the quality steps and
sigma_i are integer ratios, and the prior's CDF comes from a shipped integer table
(normal_cdf.bin, made by exact decimal arithmetic: see build_normal_cdf and its test).
Bin masses are differences of those integers, given to constriction as exactly
representable floats, which it turns into its fixed-point model deterministically.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal, getcontext
from pathlib import Path

import numpy as np

from vaezip.errors import FormatError

STEP_UNITS = 256  # steps are multiples of 1/256 of a prior standard deviation
CDF_POINTS = 2 * STEP_UNITS  # the CDF table holds Phi(k / 512): bin edges (2n +- 1) m / 512
CDF_RANGE = 8  # z in [-8, 8]; the outermost bins take the tails (mass < 1e-15)
CDF_SCALE = 1 << 48  # table values: round(Phi x 2^48) < 2^53, so exact as float64
CDF_FILE = Path(__file__).with_name("normal_cdf.bin")
SIGMA_UNITS = 4096  # sigma_i is stored as an integer number of 1/4096
ACTIVE_SIGMA = SIGMA_UNITS // 2  # sigma_i >= 0.5: the model hardly uses the dim; not coded

# --quality 1..8: the grid step in units of each dimension's sigma, as (numerator,
# denominator): halving the step costs about one bit per active dimension.
QUALITY_STEPS = {1: (4, 1), 2: (3, 1), 3: (2, 1), 4: (3, 2), 5: (1, 1), 6: (3, 4),
                 7: (1, 2), 8: (1, 4)}
# Step 3 sigma: ~13 B per MNIST digit packed, < 100 B as a file, and for mnist-bvae-32d no
# measurable loss of identity against finer steps (bench/compress.py).
DEFAULT_QUALITY = 2


def build_normal_cdf() -> np.ndarray:
    """round(Phi(k / 512) x 2^48) for k = 0 .. 4096, by decimal arithmetic (60 digits):
    the same integers on every machine. Phi(x) = 1/2 + x phi-series; see Abramowitz &
    Stegun 26.2.10: Phi(x) = 1/2 + phi(x) sum_n x^(2n+1) / (1 3 5 ... (2n+1))."""
    getcontext().prec = 60
    two_pi_sqrt = (Decimal(2) * Decimal("3.14159265358979323846264338327950288419716939937510"
                                        "58209749445923")).sqrt()
    out = np.empty(CDF_RANGE * CDF_POINTS + 1, dtype=np.uint64)
    for k in range(len(out)):
        x = Decimal(k) / CDF_POINTS
        term, total, n = x, x, 0
        while term > Decimal(10) ** -58:
            n += 1
            term = term * x * x / (2 * n + 1)
            total += term
        phi = (-(x * x) / 2).exp() / two_pi_sqrt
        value = (Decimal(1) / 2 + phi * total) * CDF_SCALE
        out[k] = min(int(value.to_integral_value()), CDF_SCALE)
    return out


@functools.cache
def normal_cdf() -> np.ndarray:
    """int64 [2 * 4096 + 1]: round(Phi(k / 512) x 2^48) for k = -4096 .. 4096, with the
    ends pinned to 0 and 2^48 so that the outermost bins carry the tails."""
    half = np.frombuffer(CDF_FILE.read_bytes(), dtype="<u8").astype(np.int64)
    full = np.concatenate([CDF_SCALE - half[:0:-1], half])  # Phi(-x) = 1 - Phi(x), exactly
    full[0], full[-1] = 0, CDF_SCALE
    return full


@dataclass(frozen=True)
class Grid:
    """The quantisation grid of one model at one quality: per active dimension, the step
    in 1/STEP_UNITS and the largest index (bins beyond z = +-8 fold into the last)."""

    dims: tuple[int, ...]  # which latent dims are coded
    steps: tuple[int, ...]  # m_i: delta_i = m_i / STEP_UNITS
    quality: int

    @functools.cached_property
    def deltas(self) -> np.ndarray:
        return np.array(self.steps, dtype=np.float64) / STEP_UNITS

    @functools.cached_property
    def limits(self) -> np.ndarray:
        """int32 [A]: R_i, the largest |index| of each coded dim."""
        half = CDF_RANGE * CDF_POINTS  # 4096: index of z = 8 from the centre
        return np.array([max(0, (half // m - 1) // 2) for m in self.steps], dtype=np.int32)


def make_grid(sigma_units: list[int], quality: int) -> Grid:
    """The grid for a model whose dims have typical widths sigma_units / SIGMA_UNITS."""
    return _make_grid(tuple(sigma_units), quality)


@functools.cache  # one grid per model and quality; encoding one file at a time reuses it
def _make_grid(sigma_units: tuple[int, ...], quality: int) -> Grid:
    if quality not in QUALITY_STEPS:
        raise ValueError(f"quality must be one of {sorted(QUALITY_STEPS)}, not {quality}")
    num, den = QUALITY_STEPS[quality]
    dims, steps = [], []
    for i, s in enumerate(sigma_units):
        if s >= ACTIVE_SIGMA:
            continue
        # m = round(STEP_UNITS * num / den * s / SIGMA_UNITS), half up, in integers.
        scale = den * SIGMA_UNITS
        m = (2 * STEP_UNITS * num * s + scale) // (2 * scale)
        dims.append(i)
        steps.append(max(1, m))
    return Grid(tuple(dims), tuple(steps), quality)


@functools.cache
def _bin_probabilities(step: int) -> np.ndarray:
    """float64 [2R + 1]: prior mass of bins n = -R .. R of width step / STEP_UNITS, as
    integer differences of the CDF table (exact in float64)."""
    cdf = normal_cdf()
    centre = CDF_RANGE * CDF_POINTS
    limit = max(0, (centre // step - 1) // 2)
    edges = (2 * np.arange(-limit, limit + 2) - 1) * step  # [2R + 2] in 1/512
    edges[0], edges[-1] = -centre, centre  # the outermost bins run to the table's ends
    mass = np.diff(cdf[edges + centre])
    return mass.astype(np.float64)


@functools.cache
def _model(step: int):
    """constriction's model of one grid step, built once per process: building it costs
    more than coding a digit."""
    import constriction

    return constriction.stream.model.Categorical(_bin_probabilities(step), perfect=False)


def quantise(mu: np.ndarray, grid: Grid) -> np.ndarray:
    """mu: float [N, K] -> int32 [N, len(grid.dims)] bin indices, clipped to the table."""
    active = np.asarray(mu, dtype=np.float64)[:, list(grid.dims)]
    index = np.rint(active / grid.deltas)
    return np.clip(index, -grid.limits, grid.limits).astype(np.int32)


def dequantise(index: np.ndarray, grid: Grid, latent_dim: int,
               sigma_units: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Bin indices -> (mu, sigma), float32 [N, K]: mu the bin centres (0 on dims that are
    not coded), sigma each dim's typical width (the per-image sigma is not stored)."""
    n = len(index)
    mu = np.zeros((n, latent_dim), dtype=np.float32)
    mu[:, list(grid.dims)] = index * grid.deltas
    sigma = np.broadcast_to(np.array(sigma_units, np.float32) / SIGMA_UNITS, (n, latent_dim))
    return mu, np.minimum(sigma, 1.0).astype(np.float32)


def encode_indices(index: np.ndarray, grid: Grid) -> bytes:
    """int32 [N, A] -> the ANS stream as bytes (little-endian 32-bit words, trailing zero
    bytes of the last word dropped). One stream for all N images: no padding per image."""
    import constriction

    coder = constriction.stream.stack.AnsCoder()
    symbols = np.ascontiguousarray((index + grid.limits).T, dtype=np.int32)  # [A, N], 0..2R
    # A stack: push the dims last-first so that decoding pops them first-last.
    for j in reversed(range(len(grid.dims))):
        coder.encode_reverse(symbols[j], _model(grid.steps[j]))
    data = coder.get_compressed().astype("<u4").tobytes()
    return data.rstrip(b"\0")


def decode_indices(data: bytes, grid: Grid, count: int) -> np.ndarray:
    """The inverse of encode_indices for count images; FormatError if the stream does not
    hold them (a checksum catches the streams that decode to something wrong)."""
    import constriction

    padded = data + b"\0" * (-len(data) % 4)
    words = np.frombuffer(padded, dtype="<u4").astype(np.uint32)
    coder = constriction.stream.stack.AnsCoder(words)
    index = np.empty((count, len(grid.dims)), dtype=np.int32)
    try:
        for j in range(len(grid.dims)):
            index[:, j] = coder.decode(_model(grid.steps[j]), count) - grid.limits[j]
    except Exception as exc:  # constriction raises on streams it cannot decode
        raise FormatError(f"coded latents are damaged ({exc})") from None
    return index


def estimate_sigma_units(sigma: np.ndarray) -> list[int]:
    """Per dim, the geometric mean of sigma over many images, in 1/SIGMA_UNITS (at least
    1, at most SIGMA_UNITS): the model statistic the grids are built from."""
    log_mean = np.log(np.clip(np.asarray(sigma, np.float64), 1e-6, None)).mean(axis=0)
    return [int(u) for u in np.clip(np.rint(np.exp(log_mean) * SIGMA_UNITS), 1, SIGMA_UNITS)]
