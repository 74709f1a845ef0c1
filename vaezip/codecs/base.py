"""The codec interface: a batch of images in model space, the payload a codec makes of it,
and what decoding gives back (latents or pixels). One module per mode implements Codec;
vaezip.codecs looks them up by mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vaezip.errors import FormatError
from vaezip.format.payload import VzFile
from vaezip.frames.digit import Placement


@dataclass(frozen=True)
class Batch:
    """Images ready for a codec: in model space, with their placement records."""

    pixels: np.ndarray  # float32 [N, D] in [0, 1]; for lossless, exactly levels / 255
    images: tuple[Placement, ...]  # one per row; a conditional model's digit is in each
    levels: np.ndarray | None = field(default=None, repr=False)  # lossless: uint8 [N, D]
    # The model's (mu, sigma) [N, K] where reading already ran the encoder (to score the
    # inputs, models/detector.py): the latent codecs take it instead of running it again.
    posterior: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, part: slice) -> Batch:
        return self.take(part)

    def take(self, rows) -> Batch:
        """The images at rows (a slice, or an integer array: in that order)."""
        images = self.images[rows] if isinstance(rows, slice) else tuple(
            self.images[i] for i in rows)
        return Batch(self.pixels[rows], images,
                     None if self.levels is None else self.levels[rows],
                     None if self.posterior is None else tuple(a[rows] for a in self.posterior))

    def encoded(self, model) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) of these images under model."""
        return self.posterior or model.encode(self.pixels, self.digits)

    @property
    def digits(self) -> np.ndarray | None:
        if self.images and self.images[0].digit is not None:
            return np.array([p.digit for p in self.images])
        return None


@dataclass(frozen=True)
class Payload:
    """What a codec makes of a batch: an entropy-coded stream plus the codec state that
    the checksum covers (coded layout), or float16 tensors (float layout)."""

    stream: bytes = b""
    check: bytes = b""  # quantised: the grid; lossless: the pixels themselves
    mu: np.ndarray | None = None
    sigma: np.ndarray | None = None


@dataclass(frozen=True)
class Latents:
    """A decoded file of a latent mode: the posterior of each image, float32 [N, K]."""

    mu: np.ndarray
    sigma: np.ndarray


@dataclass(frozen=True)
class Pixels:
    """A decoded lossless file: the exact 8-bit pixels, uint8 [N, D]."""

    levels: np.ndarray


class Codec:
    """One mode of coding, bound to one model (vaezip.models.runtime.Model)."""

    mode: str = ""
    quality: int = 0
    takes_levels: bool = False  # codes the exact 8-bit levels, in the model's frame
    # Format features its payloads use beyond the model's (format/payload.FEATURE_BITS).
    features: frozenset[str] = frozenset()

    def __init__(self, model, quality: int | None = None):
        self.model = model
        self.check_model(model)

    @classmethod
    def check_model(cls, model) -> None:
        """Raise OptionError if the model cannot be used with this mode."""

    @classmethod
    def for_reading(cls, vz: VzFile, model) -> Codec:
        return cls(model)

    def encode(self, batch: Batch) -> Payload:
        """The payload of a batch (each mode implements it)."""
        raise NotImplementedError

    def _decode(self, vz: VzFile, label: str) -> Latents | Pixels:
        """The latents or pixels of a file of this mode, checked (each mode implements it)."""
        raise NotImplementedError

    def encode_each(self, batch: Batch) -> list[Payload]:
        """One payload per image, each a stream of its own."""
        return [self.encode(batch[i : i + 1]) for i in range(len(batch))]

    def frame_intact(self, vz: VzFile) -> bool:
        """Whether a frame's checksum holds (without decoding its stream)."""
        return vz.checksum_matches(self.model.sha256, self.check_state())

    def check_state(self) -> bytes:
        """The codec state a checksum covers besides the bytes (the quantised grid)."""
        return b""

    def decode(self, vz: VzFile, label: str) -> Latents | Pixels:
        """The file's latents or pixels. FormatError (naming label) if it was made by
        another model or another version of it, or is damaged."""
        if vz.model != self.model.name or vz.mode != self.mode:
            raise ValueError(f"{label}: a {vz.mode} file of {vz.model} given to the "
                             f"{self.mode} codec of {self.model.name}")
        config = self.model.config
        digits = [p.digit for p in vz.images]
        if config.conditional and (None in digits or max(digits) >= config.classes):
            raise FormatError(f"{label}: model {vz.model!r} is conditional, but the file lacks "
                              f"a digit (0-{config.classes - 1}) for every image")
        if not config.conditional and any(d is not None for d in digits):
            raise FormatError(f"{label}: images carry digits, but {vz.model!r} is not "
                              f"conditional")
        decoded = self._decode(vz, label)
        if isinstance(decoded, Latents) and decoded.mu.shape[1] != config.latent_dim:
            raise FormatError(f"{label}: latents have {decoded.mu.shape[1]} dims, model "
                              f"{vz.model!r} has {config.latent_dim}")
        return decoded
