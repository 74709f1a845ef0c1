"""The lossless mode: every 8-bit pixel back, by bits-back coding (bitsback.py) with a
model whose decoder is a 256-level likelihood.

It takes 28x28 8-bit gray images as they are (no levels, no crop): anything else would
not round-trip. The checksum covers the model's hash and the decoded pixels, so a stream
that decodes to anything else is refused.
"""

from __future__ import annotations

from vaezip.codecs import Batch, Codec, Payload, Pixels, bitsback
from vaezip.errors import FormatError, OptionError
from vaezip.imaging import SIDE


def lossless_capable(config) -> bool:
    """Whether a model can code pixels exactly: it needs the 256-level likelihood."""
    return config.likelihood == "logistic" and not config.conditional


class LosslessCodec(Codec):
    mode = "lossless"

    @classmethod
    def check_model(cls, model) -> None:
        from vaezip.registry import LOSSLESS_MODEL

        if not lossless_capable(model.config):
            raise OptionError(f"{{lossless}} needs a model with the 256-level likelihood (such "
                              f"as {LOSSLESS_MODEL}); {model.name!r} is "
                              f"{model.config.likelihood}")

    @classmethod
    def for_reading(cls, vz, model) -> LosslessCodec:
        if not lossless_capable(model.config):
            raise FormatError(f"lossless file, but model {vz.model!r} has no 8-bit likelihood")
        return cls(model)

    def encode(self, batch: Batch) -> Payload:
        if batch.levels is None:
            raise ValueError("the lossless codec needs the images' exact 8-bit levels")
        return Payload(stream=bitsback.encode(self.model.net, batch.levels),
                       check=batch.levels.tobytes())

    def _decode(self, vz, label: str) -> Pixels:
        for p in vz.images:
            if (p.width, p.height, p.mode, p.box, p.digit) != (SIDE, SIDE, "L", None, None):
                raise FormatError(f"{label}: lossless images must be plain 28x28 gray records")
        try:
            levels = bitsback.decode(self.model.net, vz.stream, len(vz),
                                     self.model.config.input_dim)
        except FormatError as exc:
            raise FormatError(f"{label}: {exc}") from None
        if not vz.checksum_matches(self.model.sha256, levels.tobytes()):
            raise FormatError(
                f"{label}: pixel checksum mismatch: the lossless data is damaged, or was made "
                f"with a different version of model {vz.model!r} (or on a machine whose "
                f"arithmetic differs)")
        return Pixels(levels)
