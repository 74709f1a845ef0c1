"""Exact arithmetic for bits-back coding: an integer network and integer probability tables,
so that the lossless coder computes the same probabilities on every machine.

Why: a float network's outputs change with the BLAS kernel, the thread count (summation
order) and the SIMD width of exp; a bits-back decoder that computes a posterior or a pmf
one rounding away from the encoder's loses the whole stream. Here nothing that sets a
probability is a float rounded at run time:

- Weights are the shipped float16 weights times a power of two, rounded to integers once
  at load (a fixed IEEE operation: the same integers everywhere). Activations are
  integers in units of 2^-ACT_BITS, clipped to ACT_MAX.
- Each layer is one float64 matrix product of integer-valued operands. Every product and
  every partial sum is an integer below 2^53 (checked at load from the weights' range),
  so the result is exact in any summation order, with or without FMA, on any kernel.
- Requantisation and the parameters' grids are power-of-two scalings and floors.
- exp and the logistic CDF come from tables built with exact decimal arithmetic and
  shipped (exp_tables.bin, logistic_cdf.bin; tests rebuild them); the prior and the
  posterior come from the normal CDF table of entropy.py.

Probabilities go to constriction as integer-valued floats; it normalises them with its own
deterministic fixed-point arithmetic.
"""

from __future__ import annotations

import functools
from decimal import Decimal, getcontext
from pathlib import Path

import numpy as np

from vaezip.codecs.entropy import CDF_POINTS, CDF_RANGE, normal_cdf
from vaezip.models.config import LEVELS, context_parts, mlp_parameter_names

ACT_BITS = 14  # hidden activations: integers in units of 2^-14
WEIGHT_BITS = 16  # weights: integers in units of 2^-16
INPUT_BITS = 28  # first layer: pixels enter as 0..255, weights in units of 2^-28 / 255
ACT_MAX = (1 << 24) - 1  # activations clipped to [0, 2^24): bounds every sum
OUT_BITS = ACT_BITS + WEIGHT_BITS  # a layer's output: integers in units of 2^-30

Z_BINS = 128  # z is coded on bins of 1/128, centred on j / 128
Z_RANGE = Z_BINS * CDF_RANGE - 1  # j in [-1023, 1023]: z in [-8, 8]
Z_SYMBOLS = 2 * Z_RANGE + 1
SIGMA_UNITS = 4096  # the posterior's sigma: an integer number of 1/4096
LOGVAR_STEPS = 32  # log sigma^2 on a grid of 1/32 ...
LOGVAR_LOW, LOGVAR_HIGH = -20 * LOGVAR_STEPS, 6 * LOGVAR_STEPS  # ... in [-20, 6]

MEAN_UNITS = 255  # pixel means in units of 1/255 of the [-1, 1] scale (half a level)
MEAN_LIMIT = 1020  # means clipped to [-4, 4]: background pixels sit far below -1 (to -17)
LOG_SCALE_STEPS = 16  # log scales on a grid of 1/16 ...
LOG_SCALE_LOW = -7 * LOG_SCALE_STEPS  # ... from -7 (the float model's floor) ...
LOG_SCALE_COUNT = 160  # ... to +3
CDF_BITS = 15  # the logistic table: round(2^15 sigmoid(d / (255 exp(log scale))))
OFFSETS = LEVELS - 2 + MEAN_LIMIT + 1  # |edge - mean| <= 254 + 1020 units: 1275 offsets
MIX_BITS = 8  # mixture weights: integers summing to 2^8
LOGIT_STEPS = 16  # mixture logits on a grid of 1/16; weights from exp(-d / 16)
SIGMAS = LOGVAR_HIGH - LOGVAR_LOW + 1
CDF_FILE = Path(__file__).with_name("logistic_cdf.bin")
EXP_FILE = Path(__file__).with_name("exp_tables.bin")


def _decimal_exp(x: Decimal) -> Decimal:
    return x.exp()


def build_exp_tables() -> np.ndarray:
    """int64 [SIGMAS + 256], by decimal arithmetic (the same on any machine; shipped as
    exp_tables.bin, which a test rebuilds):
    - round(4096 exp(lv / 64)), at least 1, for lv = LOGVAR_LOW .. LOGVAR_HIGH: sigma in
      1/4096 from log sigma^2 on a grid of 1/32;
    - round(2^12 exp(-d / 16)) for d = 0 .. 255: the unnormalised weight of a mixture
      component whose logit is d/16 below the largest."""
    getcontext().prec = 40
    sigmas = [max(1, int((Decimal(SIGMA_UNITS) * _decimal_exp(Decimal(lv) / 64))
                         .to_integral_value())) for lv in range(LOGVAR_LOW, LOGVAR_HIGH + 1)]
    weights = [int((Decimal(4096) * _decimal_exp(Decimal(-d) / LOGIT_STEPS)).to_integral_value())
               for d in range(256)]
    return np.array(sigmas + weights, dtype=np.int64)


@functools.cache
def _exp_tables() -> np.ndarray:
    return np.frombuffer(EXP_FILE.read_bytes(), dtype="<i8").astype(np.int64)


def sigma_table() -> np.ndarray:
    """int64 [SIGMAS]: sigma in 1/4096 for each log sigma^2 step (see build_exp_tables)."""
    return _exp_tables()[:SIGMAS]


def mixture_exp_table() -> np.ndarray:
    """int64 [256]: the mixture weights' exp table (see build_exp_tables)."""
    return _exp_tables()[SIGMAS:]


def build_logistic_cdf() -> np.ndarray:
    """uint16 [LOG_SCALE_COUNT, OFFSETS]: round(2^15 sigmoid(d / (255 exp(s / 16)))) for
    s = LOG_SCALE_LOW + row and d = 0 .. OFFSETS - 1, by decimal arithmetic (slow: a few
    seconds; the result ships as logistic_cdf.bin and a test rebuilds rows of it)."""
    getcontext().prec = 40
    out = np.empty((LOG_SCALE_COUNT, OFFSETS), dtype=np.uint16)
    for row in range(LOG_SCALE_COUNT):
        inv_scale = _decimal_exp(-Decimal(LOG_SCALE_LOW + row) / LOG_SCALE_STEPS) / MEAN_UNITS
        for d in range(OFFSETS):
            value = Decimal(1 << CDF_BITS) / (1 + _decimal_exp(-d * inv_scale))
            out[row, d] = int(value.to_integral_value())
    return out


@functools.cache
def _parity_windows() -> np.ndarray:
    """A strided view [2, LOG_SCALE_COUNT, W, 255]: [p, s, i] holds the logistic CDF at the
    255 level edges for a mean whose first offset is 2 i + p (edges are 2 units apart)."""
    half = np.frombuffer(CDF_FILE.read_bytes(), dtype="<u2").reshape(LOG_SCALE_COUNT, OFFSETS)
    half = half.astype(np.float32)
    full = np.concatenate([(1 << CDF_BITS) - half[:, :0:-1], half], axis=1)  # d = -574..574
    even = full[:, 0::2]  # 575 columns: offsets -574, -572, .., 574
    odd = np.concatenate([full[:, 1::2], full[:, -1:]], axis=1)  # 574, padded (never read)
    return np.lib.stride_tricks.sliding_window_view(np.stack([even, odd]), LEVELS - 1, axis=2)


@functools.cache
def prior_masses() -> np.ndarray:
    """float64 [Z_SYMBOLS]: N(0, 1) mass of each z bin, integer differences of the normal
    CDF table (edges (2j +- 1) / 256 are table points k / 512)."""
    cdf = normal_cdf()
    centre = CDF_RANGE * CDF_POINTS
    step = CDF_POINTS // (2 * Z_BINS)  # table points per half bin
    j = np.arange(-Z_RANGE, Z_RANGE + 2)
    edges = np.clip((2 * j - 1) * step, -centre, centre)
    return np.diff(cdf[edges + centre]).astype(np.float64)


@functools.cache
def _edges() -> np.ndarray:
    """float64 [Z_SYMBOLS + 1]: the z bins' edges in units of 1/(2 Z_BINS)."""
    return (2 * np.arange(-Z_RANGE, Z_RANGE + 2) - 1).astype(np.float64)


@functools.cache
def _normal_cdf_float() -> np.ndarray:
    """The normal CDF table as float64: exact (integers < 2^53). Rounding it to 2^24 for
    float32 was measured to cost 0.01 bits/dim: the posterior needs the fine tails."""
    return normal_cdf().astype(np.float64)


class ExactModel:
    """The VAE's encoder and decoder in integer arithmetic, for bits-back coding. A group
    decoder (config.groups) is a trunk z -> h and one head per pixel group, head g taking
    h and the levels of groups 0 .. g-1 (see models.GroupVAE)."""

    def __init__(self, config, tensors: dict[str, np.ndarray]):
        self.config = config
        self._encoder = self._layers(tensors, "encoder", config.encoder_sizes(), encoder=True)
        self._decoder = self._layers(tensors, "decoder", config.decoder_sizes())
        if config.context:  # local heads: the map's features, then centred levels
            self._heads = [self._layers(tensors, f"heads.{g}", config.head_sizes(g),
                                        centred=config.head_sizes(g)[0] - config.map_features)
                           for g in range(config.head_count)]
        else:
            self._heads = [self._layers(tensors, f"heads.{g}", config.head_sizes(g),
                                        levels=config.head_sizes(g)[0] - config.hidden[0])
                           for g in range(config.head_count)]
        self.pixel_groups = [np.asarray(g) for g in config.pixel_groups()]

    @staticmethod
    def _layers(tensors, prefix, sizes, encoder=False, levels=0, centred=0):
        """Each layer as (integer weights [in, out], integer bias, scale back to 2^-14).
        The first layer's inputs are activations, except: the encoder's, pixel levels
        0..255 that the float model sees as v / 255; a group head's last `levels`
        inputs, levels that the float model sees as 2 v / 255 - 1; and a local head's
        last `centred` inputs, u = 2 v - 255 (0 where not yet decoded) that the float model
        sees as u / 255."""
        layers = []
        for i, (w, b) in enumerate(mlp_parameter_names(prefix, sizes)):
            weight = tensors[w].astype(np.float64).T  # [in, out]
            bias = tensors[b].astype(np.float64)
            if i == 0 and encoder:  # pixels 0..255 in; out in units of 2^-INPUT_BITS
                w_int = np.round(weight * (2.0**INPUT_BITS / 255))
                b_int = np.round(bias * 2.0**INPUT_BITS)
                shift = INPUT_BITS - ACT_BITS
                in_max = np.full(len(weight), 255.0)
            else:
                w_int = np.round(weight * 2.0**WEIGHT_BITS)
                b_int = np.round(bias * 2.0**OUT_BITS)
                shift = WEIGHT_BITS
                in_max = np.full(len(weight), float(ACT_MAX if i else (1 << ACT_BITS) * 8))
                if i == 0 and centred:  # u / 255: weights in units of 2^-30 * 255
                    split = len(weight) - centred
                    w_int[split:] = np.round(weight[split:] * (2.0**OUT_BITS / 255))
                    in_max[:split] = ACT_MAX
                    in_max[split:] = 255
                if i == 0 and levels:  # 2 v / 255 - 1 = v (2 / 255) - 1: fold the -1
                    split = len(weight) - levels
                    level = np.round(weight[split:] * (2.0**(OUT_BITS + 1) / 255))
                    w_int[split:] = level
                    b_int -= np.round(weight[split:] * 2.0**OUT_BITS).sum(axis=0)  # exact
                    in_max[:split] = ACT_MAX
                    in_max[split:] = 255
            bound = (in_max @ np.abs(w_int)).max() + np.abs(b_int).max()
            if bound >= 2.0**53:
                raise ValueError(f"{prefix} layer {i}: sums could reach 2^{np.log2(bound):.0f}, "
                                 f"past float64's exact integers")
            layers.append((np.ascontiguousarray(w_int), b_int, 2.0**-shift))
        return layers

    @staticmethod
    def _run(layers, x: np.ndarray, relu_last: bool = False) -> np.ndarray:
        """Integer-valued float64 in, the last layer's integer sums out (units 2^-30), or
        with relu_last its activations (units 2^-14)."""
        for i, (weight, bias, scale) in enumerate(layers):
            if i == 0:  # skip the inputs that are 0 in every image (an MNIST digit's pixels
                # mostly are): a sum over fewer terms, the same integer
                used = np.flatnonzero(x.any(axis=0))
                if len(used) < 0.9 * x.shape[1]:
                    x, weight = x[:, used], weight[used]
            x = x @ weight  # exact: integer operands, every sum below 2^53
            x += bias  # in place, as below: a local head's layer has a row per position
            if relu_last or i < len(layers) - 1:  # ReLU, back to 2^-14 units
                x *= scale
                np.floor(x, out=x)
                np.maximum(x, 0, out=x)
                np.minimum(x, ACT_MAX, out=x)
        return x

    @staticmethod
    def _grid(acc: np.ndarray, steps: int) -> np.ndarray:
        """round(acc / 2^30 * steps), half up, as int64 (steps a power of two or 255)."""
        return np.floor((acc * steps + 2.0 ** (OUT_BITS - 1)) * 2.0**-OUT_BITS).astype(np.int64)

    def posterior(self, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 pixels [n, D] -> (mean in units of 1/(2 Z_BINS), sigma in 1/4096), int64
        [n, K] each."""
        acc = self._run(self._encoder, levels.astype(np.float64))
        k = self.config.latent_dim
        mean = np.clip(self._grid(acc[:, :k], 2 * Z_BINS), -2 * Z_BINS * 8, 2 * Z_BINS * 8)
        logvar = np.clip(self._grid(acc[:, k:], LOGVAR_STEPS), LOGVAR_LOW, LOGVAR_HIGH)
        return mean, sigma_table()[logvar - LOGVAR_LOW]

    def posterior_masses(self, levels: np.ndarray) -> np.ndarray:
        """float64 [n * K, Z_SYMBOLS]: q(z | x) of every z bin, integer masses out of 2^48
        (differences of the normal CDF table at integer indices)."""
        mean, sigma = self.posterior(levels)
        mean = mean.reshape(-1, 1).astype(np.float64)
        sigma = sigma.reshape(-1, 1).astype(np.float64)
        # Table index round(512 (edge - mean) / (2 Z_BINS sigma)) = floor(a / b) with
        # integers a = (edge - mean) 2 scale + sigma, b = 2 sigma. |a| < 2^27 and b < 2^20,
        # so a / b is never within float64 rounding of an integer it is not: the correctly
        # rounded IEEE quotient floors to the exact integer quotient, on every machine.
        scale = CDF_POINTS * SIGMA_UNITS // (2 * Z_BINS)
        centre = CDF_RANGE * CDF_POINTS
        index = _edges() * (2 * scale) + (sigma - 2 * scale * mean)  # exact integers
        np.divide(index, 2 * sigma, out=index)
        np.floor(index, out=index)
        index += centre  # table positions 0 .. 2 centre
        np.clip(index, 0, 2 * centre, out=index)
        index[:, 0], index[:, -1] = 0, 2 * centre  # the outermost bins take the tails
        cdf = _normal_cdf_float()[index.astype(np.intp)]
        return np.subtract(cdf[:, 1:], cdf[:, :-1])

    @staticmethod
    def _z_input(z_index: np.ndarray) -> np.ndarray:
        return z_index.astype(np.float64) * (2.0**ACT_BITS / Z_BINS)  # exact: a power of 2

    def pixel_masses(self, z_index: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
        """z bins j [n, K] -> float32 [n * D, 256]: each pixel's frequencies of the 256
        levels, integers >= 1 summing to 2^23 + 256; with starts (the first level of each
        bin, ascending from 0), of the bins instead: [n * D, B], each the sum of its levels'.
        (Not for a group decoder, whose probabilities depend on the pixels: see trunk and
        group_masses.)"""
        return self._masses(self._run(self._decoder, self._z_input(z_index)), starts)

    def trunk(self, z_index: np.ndarray) -> np.ndarray:
        """A group decoder's features h of z bins j [n, K]: integers [n, W] (2^-14 units)."""
        return self._run(self._decoder, self._z_input(z_index), relu_last=True)

    def group_masses(self, group: int, h: np.ndarray, levels: np.ndarray,
                     starts: np.ndarray | None = None) -> np.ndarray:
        """Group g's level frequencies, float32 [n * |g|, 256], or with starts its bin
        frequencies [n * |g|, B] (as pixel_masses), from the trunk's h [n, W] and the
        images' levels [n, D] (only groups 0 .. g-1 are read)."""
        return self._masses(self._head_sums(group, h, levels), starts)

    def _head_sums(self, group: int, h: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Group g's head on h and the levels of groups 0 .. g-1: its last layer's sums
        [n, 3 M |g|]."""
        if self.config.context:
            return self._local_sums(group, h, levels)
        seen = [levels[:, p].astype(np.float64) for p in self.pixel_groups[:group]]
        return self._run(self._heads[group], np.concatenate([h, *seen], axis=1))

    def _local_sums(self, group: int, h: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """A local head (config.context) at every position of group g, on the trunk's map
        h [n, F * H * W] and the levels of groups 0 .. g-1 (as u = 2 v - 255, 0 elsewhere
        and outside the frame): as models.LocalGroupVAE, in integers."""
        c = self.config
        n, r = len(h), c.context
        known = np.zeros((n, c.input_dim), np.float64)
        for p in self.pixel_groups[:group]:
            known[:, p] = 2 * levels[:, p].astype(np.float64) - 255
        padded = np.pad(known.reshape(n, c.channels, c.height, c.width),
                        ((0, 0), (0, 0), (r, r), (r, r)))
        fmap = h.reshape(n, c.map_features, c.height, c.width)
        x = np.concatenate(context_parts(c, group, fmap, padded), axis=1)  # [n, I, h, w]
        rows, cols = x.shape[2:]
        acc = self._run(self._heads[group], x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]))
        acc = acc.reshape(n, rows, cols, 3, c.mixture)
        return acc.transpose(0, 3, 4, 1, 2).reshape(n, -1)

    def all_group_masses(self, h: np.ndarray, levels: np.ndarray,
                         starts: np.ndarray | None = None) -> list[np.ndarray]:
        """Every group's masses (group_masses of each g) at once, for an encoder, which has
        all the levels: the heads run one by one, the masses of all pixels in one pass."""
        n, m = len(h), self.config.mixture
        acc = [self._head_sums(g, h, levels).reshape(n, 3, m, -1)
               for g in range(self.config.head_count)]
        masses = self._masses(np.concatenate(acc, axis=3).reshape(n, -1), starts)
        masses = masses.reshape(n, -1, masses.shape[-1])  # [n, D in group order, B]
        bounds = np.cumsum([0, *(len(p) for p in self.pixel_groups)])
        return [masses[:, a:b].reshape(-1, masses.shape[-1])
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def _masses(self, acc: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
        """The last layer's sums [n, 3 M P] (units 2^-30) -> float32 [n * P, 256], or with
        bin starts [n * P, B]."""
        n, m = len(acc), self.config.mixture
        params = acc.reshape(n, 3, m, -1)  # [n, 3, M, D]: logits, means, log scales
        logits = self._grid(params[:, 0], LOGIT_STEPS)
        means = np.clip(self._grid(params[:, 1], MEAN_UNITS), -MEAN_LIMIT, MEAN_LIMIT)
        scales = np.clip(self._grid(params[:, 2], LOG_SCALE_STEPS) - LOG_SCALE_LOW, 0,
                         LOG_SCALE_COUNT - 1)
        # Mixture weights: exp table, then integers summing to exactly 2^MIX_BITS (the
        # remainder of the floor goes to the largest component, which comes first).
        order = np.argsort(-logits, axis=1, kind="stable")  # [n, M, D]: the top first
        logits, means, scales = (np.take_along_axis(a, order, 1) for a in (logits, means, scales))
        raw = mixture_exp_table()[np.minimum(logits[:, :1] - logits, 255)]  # [n, M, D]
        weights = (raw << MIX_BITS) // raw.sum(axis=1, keepdims=True)
        weights[:, 0] += (1 << MIX_BITS) - weights.sum(axis=1)
        # CDF at the 255 edges between levels, for each component: the edge below level v
        # sits at 2v - 256 units, so edge 1 is at offset -254 - mean from the mean, which
        # is column MEAN_LIMIT - mean of the table (offsets -1274 .. 1274); then every 2nd.
        windows = _parity_windows()
        start = (MEAN_LIMIT - means).reshape(n, m, -1).transpose(1, 0, 2).reshape(m, -1)
        scales = scales.transpose(1, 0, 2).reshape(m, -1)
        weights = weights.transpose(1, 0, 2).reshape(m, -1).astype(np.float32)
        binned = starts is not None and len(starts) < LEVELS
        # The edges read: all 255, or for bins only the edge below each bin's first level
        # (a bin's mass telescopes to a difference of two of them, see below).
        columns = starts[1:] - 1 if binned else slice(None)

        def component(k, rows):  # [rows, edges]: component k's CDF at the edges, a copy
            st, sc = start[k, rows], scales[k, rows]
            if binned:
                return windows[(st & 1)[:, None], sc[:, None], (st >> 1)[:, None], columns]
            return windows[st & 1, sc, st >> 1]

        # float32 is exact: every product and partial sum is an integer <= 2^23.
        edges = component(0, slice(None))
        edges *= weights[0][:, None]
        for k in range(1, m):  # most other components weigh 0 out of 2^8: skip those rows
            rows = np.flatnonzero(weights[k])
            edges[rows] += component(k, rows) * weights[k, rows, None]
        total = float(1 << (MIX_BITS + CDF_BITS))
        if binned:  # sum over a bin's levels of (edge above - edge below + 1)
            bounds = np.empty((len(edges), len(starts) + 1), dtype=np.float32)
            bounds[:, 0], bounds[:, 1:-1], bounds[:, -1] = 0, edges, total
            masses = np.diff(bounds, axis=1)
            masses += np.diff(np.append(starts, LEVELS)).astype(np.float32)
            return masses
        masses = np.empty((len(edges), LEVELS), dtype=np.float32)
        masses[:, 0] = edges[:, 0]
        np.subtract(edges[:, 1:], edges[:, :-1], out=masses[:, 1 : LEVELS - 1])
        np.subtract(total, edges[:, -1], out=masses[:, LEVELS - 1])
        masses += 1  # every level possible
        return masses
