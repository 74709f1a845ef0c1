"""A model loaded for inference: encode, decode and sample on NumPy arrays, without torch.

This is what `vaezip.load_model(name)` returns and what every codec works with. Training,
evaluation and the figures use the torch modules in models/torch_nets.py, built from the same
ModelConfig (models/numpy_nets.py runs the same layers in NumPy).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from vaezip.codecs.exact import ExactModel
from vaezip.models.config import ModelConfig
from vaezip.models.detector import features
from vaezip.models.registry import find, numpy_model, verified_tensors

BATCH = 4096  # images per NumPy pass: bounded memory, and BLAS still runs at full speed


@dataclass(frozen=True)
class Model:
    """A registry model, ready to run. `encode` and `decode` take and give NumPy arrays in
    model space: 28x28 (or flattened to 784), float values in [0, 1], white ink on black."""

    entry: object  # registry.ModelEntry: name, hash, config, entropy-model statistics
    net: object  # inference.NumpyModel
    tensors: dict = field(default_factory=dict, repr=False)  # the weights as stored

    @functools.cached_property
    def exact(self):
        """The same network in integer arithmetic (codecs.exact.ExactModel), for the
        lossless coder: built on first use from the stored weights."""
        return ExactModel(self.config, self.tensors)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def sha256(self) -> str:
        return self.entry.sha256

    @property
    def config(self) -> ModelConfig:
        return self.entry.config

    def __repr__(self) -> str:
        c = self.config
        return (f"Model({self.name!r}, arch={c.arch!r}, likelihood={c.likelihood!r}, "
                f"latent_dim={c.latent_dim})")

    def _labels(self, digits, n: int) -> np.ndarray | None:
        if not self.config.conditional:
            if digits is not None:
                raise ValueError(f"{self.name} is not conditional; it takes no digits")
            return None
        if digits is None:
            raise ValueError(f"{self.name} is conditional: give the digit of each image")
        labels = np.broadcast_to(np.asarray(digits, dtype=np.int64), (n,))
        if labels.min() < 0 or labels.max() >= self.config.classes:
            raise ValueError(f"digits must be 0-{self.config.classes - 1}")
        return labels

    def encode(self, images, digits=None) -> tuple[np.ndarray, np.ndarray]:
        """images: [N, D] (or any shape of N frames), float in [0, 1] -> (mu, sigma),
        float32 [N, K].
        digits: the label of each image (or one for all), for conditional models only."""
        x = np.asarray(images, dtype=np.float32).reshape(-1, self.config.input_dim)
        labels = self._labels(digits, len(x))
        parts = [self.net.encode(x[i : i + BATCH], _part(labels, i))
                 for i in range(0, len(x), BATCH)]
        if not parts:
            k = self.config.latent_dim
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.float32)
        return np.concatenate([m for m, _ in parts]), np.concatenate([s for _, s in parts])

    def decode(self, z, digits=None) -> np.ndarray:
        """z: [N, K] -> the decoder's pixel means, float32 in [0, 1]: [N, H, W] for a gray
        frame (a digit model's: [N, 28, 28]), [N, C, H, W] for more channels."""
        z = np.asarray(z, dtype=np.float32).reshape(-1, self.config.latent_dim)
        labels = self._labels(digits, len(z))
        channels, height, width = self.config.frame
        parts = [self.net.decode(z[i : i + BATCH], _part(labels, i))
                 for i in range(0, len(z), BATCH)]
        shape = (height, width) if channels == 1 else (channels, height, width)
        return (np.concatenate(parts) if parts else np.zeros((0, self.config.input_dim),
                                                             np.float32)).reshape(-1, *shape)

    def nondigit_scores(self, images, digits=None, posterior=None) -> np.ndarray | None:
        """How unlike the training digits each image is (models/detector.py): float64 [N], above
        1 for the inputs that encoding warns about. None: the model has no detector.
        posterior: encode(images, digits) where the caller has it already."""
        detector = self.entry.nondigit
        if detector is None:
            return None
        x = np.asarray(images, dtype=np.float32).reshape(-1, self.config.input_dim)
        labels = self._labels(digits, len(x))
        mu, sigma = posterior or self.encode(x, digits)
        return np.concatenate([np.zeros(0)] + [
            detector.score(features(self.net, x[i : i + BATCH], _part(labels, i),
                                    (mu[i : i + BATCH], sigma[i : i + BATCH])))
            for i in range(0, len(x), BATCH)])

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0, digits=None) -> np.ndarray:
        """n new images from the prior N(0, temperature^2 I), float32 [n, 28, 28]. The
        autoencoder has no prior: its codes are drawn uniformly over its latent square."""
        rng = np.random.default_rng(seed)
        k = self.config.latent_dim
        if self.config.arch == "ae":
            z = rng.uniform(0, 1, (n, k)).astype(np.float32)
        else:
            z = (temperature * rng.standard_normal((n, k))).astype(np.float32)
        return self.decode(z, digits)


def _part(labels: np.ndarray | None, start: int) -> np.ndarray | None:
    return None if labels is None else labels[start : start + BATCH]


@functools.lru_cache(maxsize=8)
def _load(name: str, path: str, sha256: str) -> Model:
    entry = find(name)
    tensors = verified_tensors(entry)
    return Model(entry, numpy_model(entry, tensors), tensors)


def load(name: str) -> Model:
    """The installed model called name (shipped or user-trained), its hash verified. Kept
    per process, keyed by file and hash, so a retrained model is loaded afresh."""
    entry = find(name)
    return _load(entry.name, str(entry.path), entry.sha256)
