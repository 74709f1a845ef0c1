"""The quantised mode (the default): each mu on a grid whose step follows its dimension's
typical posterior width, entropy-coded under the prior with integer tables (entropy.py).

The checksum covers the model's hash, the grid and the coded bytes, and is checked before
any latent is used: an ANS stream that was damaged, or is read with another version of
the model, would otherwise decode silently into other latents.
"""

from __future__ import annotations

import numpy as np

from vaezip.codecs import entropy
from vaezip.codecs.base import Batch, Codec, Latents, Payload
from vaezip.errors import FormatError, Option, OptionError


class QuantisedCodec(Codec):
    mode = "quantised"

    def __init__(self, model, quality: int | None = None):
        super().__init__(model)
        self.quality = entropy.DEFAULT_QUALITY if quality is None else quality
        if self.quality not in entropy.QUALITY_STEPS:
            raise OptionError(Option("quality"), f" must be {min(entropy.QUALITY_STEPS)}-"
                              f"{max(entropy.QUALITY_STEPS)}, not {self.quality}")
        units = model.entry.codec["sigma_units"]
        if len(units) != model.config.latent_dim:
            raise FormatError(f"model {model.name!r}: codec sigma_units has {len(units)} dims, "
                              f"the model {model.config.latent_dim}")
        self.grid = entropy.make_grid(units, self.quality)

    @classmethod
    def check_model(cls, model) -> None:
        if not model.entry.codec.get("sigma_units"):
            raise OptionError(f"model {model.name!r} has no entropy model for coded .vz files; "
                              "use ", Option("float_latents"))

    @classmethod
    def for_reading(cls, vz, model) -> QuantisedCodec:
        try:
            cls.check_model(model)
            return cls(model, vz.quality)
        except OptionError as exc:
            raise FormatError(f"{exc}") from None

    @property
    def grid_bytes(self) -> bytes:
        return np.array(self.grid.dims + self.grid.steps, dtype="<u4").tobytes()

    def check_state(self) -> bytes:
        return self.grid_bytes

    def encode(self, batch: Batch) -> Payload:
        mu, _ = batch.encoded(self.model)
        stream = entropy.encode_indices(entropy.quantise(mu, self.grid), self.grid)
        return Payload(stream=stream, check=self.grid_bytes)

    def reconstruct(self, batch: Batch) -> np.ndarray:
        """What decoding these images' files shows: the decoder's output for the
        dequantised latents, float32 [N, 784] in [0, 1] (the identity guard reads it)."""
        index = entropy.quantise(batch.encoded(self.model)[0], self.grid)
        mu, _ = entropy.dequantise(index, self.grid, self.model.config.latent_dim,
                                   self.model.entry.codec["sigma_units"])
        return self.model.decode(mu, batch.digits).reshape(len(mu), -1)

    def encode_each(self, batch: Batch) -> list[Payload]:
        index = entropy.quantise(batch.encoded(self.model)[0], self.grid)
        return [Payload(stream=entropy.encode_indices(index[i : i + 1], self.grid),
                        check=self.grid_bytes) for i in range(len(index))]

    def _decode(self, vz, label: str) -> Latents:
        if not vz.checksum_matches(self.model.sha256, self.grid_bytes):
            raise FormatError(
                f"{label}: checksum mismatch: the coded data is damaged, or was made with a "
                f"different version of model {vz.model!r} than the one installed")
        index = entropy.decode_indices(vz.stream, self.grid, len(vz))
        mu, sigma = entropy.dequantise(index, self.grid, self.model.config.latent_dim,
                                       self.model.entry.codec["sigma_units"])
        return Latents(mu, sigma)
