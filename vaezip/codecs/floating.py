"""The float mode: mu and sigma as float16 tensors (the version 1-2 layout, `--float`).

Needs no entropy model, so it works with every model, the autoencoder included. The file
names its model by name and the first 12 hex digits of the weights hash; decoding with a
different version of the model is refused.
"""

from __future__ import annotations

from vaezip.codecs.base import Batch, Codec, Latents, Payload
from vaezip.errors import FormatError
from vaezip.format import payload


class FloatCodec(Codec):
    mode = payload.MODE_FLOAT

    def encode(self, batch: Batch) -> Payload:
        mu, sigma = batch.encoded(self.model)
        return Payload(mu=mu, sigma=sigma)

    def encode_each(self, batch: Batch) -> list[Payload]:
        mu, sigma = batch.encoded(self.model)
        return [Payload(mu=mu[i : i + 1], sigma=sigma[i : i + 1]) for i in range(len(mu))]

    def _decode(self, vz, label: str) -> Latents:
        if not self.model.sha256.startswith(vz.model_hash):
            raise FormatError(
                f"{label}: made with a different version of {vz.model!r} (weights "
                f"{vz.model_hash}, installed {self.model.sha256[:len(vz.model_hash)]}); decode "
                f"it with the vaezip that made it")
        return Latents(vz.mu, vz.sigma)
