"""Inference for encode, decode and sample, in NumPy: no torch import on the paths users
run from shells and scripts, where starting torch (1.5-2 s) would cost more than the work.

The layers are not written down twice: the sizes come from ModelConfig.encoder_sizes /
decoder_sizes and the parameter names from config.mlp_parameter_names, which is how
models/torch_nets.py builds its torch modules; tests check both backends agree on the test set.
Training and evaluation stay on torch (models/torch_nets.py).
"""

from __future__ import annotations

import numpy as np

from vaezip.models.config import LEVELS, ModelConfig, context_parts, mlp_parameter_names


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-x) as (1 + tanh(x / 2)) / 2: never overflows, and one ufunc pass (25x
    # faster here than exp on the positive and negative halves apart); float32 throughout.
    out = np.tanh(x * np.float32(0.5))
    out *= np.float32(0.5)
    out += np.float32(0.5)
    return out


def _softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class NumpyModel:
    """The encoder and decoder of an MLP model (ae or vae) as float32 NumPy arrays."""

    def __init__(self, config: ModelConfig, tensors: dict[str, np.ndarray]):
        self.config = config

        def layers(prefix: str, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
            # Keep W transposed ([in, out]) and contiguous: x @ W is one BLAS call.
            return [(np.ascontiguousarray(tensors[w].astype(np.float32).T),
                     tensors[b].astype(np.float32))
                    for w, b in mlp_parameter_names(prefix, sizes)]

        self._encoder = layers("encoder", config.encoder_sizes())
        self._decoder = layers("decoder", config.decoder_sizes())
        # A group decoder's heads (config.groups): run in order on the pixels before them.
        self._heads = [layers(f"heads.{g}", config.head_sizes(g))
                       for g in range(config.head_count)]
        self._pixel_groups = [np.asarray(g) for g in config.pixel_groups()]

    @staticmethod
    def _run(layers, x: np.ndarray) -> np.ndarray:
        for i, (weight, bias) in enumerate(layers):
            x = x @ weight + bias
            if i < len(layers) - 1:
                np.maximum(x, 0, out=x)  # ReLU between layers, none after the last
        return x

    def _with_label(self, t: np.ndarray, labels) -> np.ndarray:
        """[B, F] -> [B, F + C] with the one-hot label (as VAE.with_label)."""
        t = np.asarray(t, dtype=np.float32)
        if not self.config.conditional:
            return t
        if labels is None:
            raise ValueError("a conditional model needs the labels")
        one_hot = np.eye(self.config.classes, dtype=np.float32)[np.asarray(labels, dtype=int)]
        return np.concatenate([t, one_hot], axis=1)

    def encode(self, x: np.ndarray, labels=None) -> tuple[np.ndarray, np.ndarray]:
        """x: float32 [B, D] in [0, 1] -> (mu, sigma), each [B, K].

        For the autoencoder, mu is its sigmoid code and sigma is 0 (it has no posterior).
        """
        h = self._run(self._encoder, self._with_label(x, labels))
        if self.config.arch == "ae":
            return _sigmoid(h), np.zeros_like(h)
        k = self.config.latent_dim
        return h[:, :k], np.exp(0.5 * h[:, k:])

    def decode(self, z: np.ndarray, labels=None) -> np.ndarray:
        """z: [B, K] -> pixel means: float32 [B, D] in [0, 1]."""
        out = self._run(self._decoder, self._with_label(z, labels))
        if self.config.context:
            return self._decode_local(np.maximum(out, 0))
        if self.config.groups:
            return self._decode_groups(np.maximum(out, 0))
        if self.config.likelihood == "logistic":
            return (self._logistic_mean(out) + 1) / 2
        return _sigmoid(out)

    def _logistic_mean(self, out: np.ndarray) -> np.ndarray:
        """[B, 3 M D] parameters -> the mixture's mean per pixel, float32 [B, D] in [-1, 1]."""
        weights, means, _ = self._logistic_params(out)
        return np.clip((_softmax(weights) * means).sum(axis=1), -1, 1).astype(np.float32)

    def _decode_groups(self, h: np.ndarray) -> np.ndarray:
        """The trunk's features [B, W] -> pixel means [B, D], group by group, each head
        seeing the means of the groups before it (as models.GroupVAE.decode)."""
        out = np.empty((len(h), self.config.input_dim), dtype=np.float32)
        seen = [h]
        for head, pixels in zip(self._heads, self._pixel_groups, strict=True):
            seen.append(self._logistic_mean(self._run(head, np.concatenate(seen, axis=1))))
            out[:, pixels] = seen[-1]
        return (out + 1) / 2

    def _decode_local(self, fmap: np.ndarray) -> np.ndarray:
        """Local heads (as models.LocalGroupVAE.decode): the trunk's map [B, F * H * W] ->
        pixel means [B, D], group by group, each position seeing the means around it."""
        c = self.config
        n, r = len(fmap), c.context
        fmap = fmap.reshape(n, c.map_features, c.height, c.width)
        image = np.zeros((n, c.channels, c.height + 2 * r, c.width + 2 * r), np.float32)
        inside = image[:, :, r : r + c.height, r : r + c.width]  # a view: filled in place
        out = np.empty((n, c.input_dim), dtype=np.float32)
        for g, (head, pixels) in enumerate(zip(self._heads, self._pixel_groups, strict=True)):
            x = np.concatenate(context_parts(c, g, fmap, image), axis=1)  # [B, I, h, w]
            rows, cols = x.shape[2:]
            params = self._run(head, x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]))
            params = params.reshape(n, rows, cols, 3, c.mixture)
            params = params.transpose(0, 3, 4, 1, 2).reshape(n, -1)  # [B, 3 M P]
            out[:, pixels] = self._logistic_mean(params)
            flat = inside.reshape(n, -1)  # a copy: the view is not contiguous
            flat[:, pixels] = out[:, pixels]
            inside[...] = flat.reshape(inside.shape)
        return (out + 1) / 2

    def _logistic_params(self, out: np.ndarray):
        """As models.logistic_params: [B, 3 M D] -> three [B, M, D]."""
        params = out.reshape(len(out), 3, self.config.mixture, -1)
        return params[:, 0], params[:, 1], np.maximum(params[:, 2], -7.0)

    def pixel_pmf(self, z: np.ndarray, labels=None) -> np.ndarray:
        """The logistic mixture's probabilities of the 256 levels of every pixel:
        float32 [B * D, 256] (rows sum to 1), as models.logistic_mixture_nll defines them."""
        if self.config.likelihood != "logistic" or self.config.groups:
            raise ValueError("pixel probabilities need the logistic likelihood, without "
                             "pixel groups (whose probabilities depend on the pixels)")
        out = self._run(self._decoder, self._with_label(z, labels))
        weights, means, log_scales = self._logistic_params(out)  # [B, M, D] each
        mix = _softmax(weights)
        inv_scale = np.exp(-log_scales)
        shift = means * inv_scale
        # Boundaries between levels v - 1 and v (v = 1 .. 255), in the [-1, 1] scale.
        edges = ((2 * np.arange(1, LEVELS) - 1) / 255.0 - 1).astype(np.float32)  # [255]
        b, d = len(out), means.shape[2]
        cdf = np.zeros((b, d, LEVELS + 1), dtype=np.float32)
        t = np.empty((b, d, LEVELS - 1), dtype=np.float32)
        with np.errstate(over="ignore"):  # exp(-t) = inf: a CDF of exactly 0
            for k in range(self.config.mixture):  # float32, in place: memory-bound work
                np.multiply(edges, inv_scale[:, k, :, None], out=t)
                np.subtract(shift[:, k, :, None], t, out=t)  # -(edge - mean) / scale
                np.exp(t, out=t)
                t += 1.0
                np.divide(mix[:, k, :, None], t, out=t)  # weight * sigmoid
                cdf[:, :, 1:LEVELS] += t
        cdf[:, :, LEVELS] = 1.0
        pmf = np.diff(cdf, axis=2).reshape(-1, LEVELS)
        return np.maximum(pmf, 0, out=pmf)  # float32 rounding can dip a CDF step below 0
