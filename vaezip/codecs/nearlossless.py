"""The near-lossless mode: every 8-bit pixel back within N levels (N = 1-16), guaranteed.

Bits-back over the lossless model, as lossless.py, but each pixel's *bin* of 2N + 1
levels is coded under the bin's probability mass (the sum of its levels' integer masses,
exact), and z's bits are taken back under q(z | the decoded image), which the decoder
can compute once it has the bins. So it fills the curve between the lossy modes and
lossless, as WebP's near-lossless and JPEG-LS do, in the same exact arithmetic: the
files decode identically on any machine.

Like lossless, it takes images exactly in the model's frame. With visible (a frame with
alpha), the bound is on what is seen: alpha within N, and colour within N once weighted
by the pixel's opacity, so colour under a transparent pixel is not kept
(bitsback.choose_visible_bins; the visible-error feature says so in the file). Files are
version 7 (mode 2); the quality nibble holds N - 1, and the checksum covers the model's
hash, N and the coded bytes, so it is checked before decoding.
"""

from __future__ import annotations

from vaezip.codecs import bitsback
from vaezip.codecs.base import Batch, Payload, Pixels
from vaezip.codecs.lossless import LosslessCodec, lossless_capable
from vaezip.errors import FormatError, Option, OptionError
from vaezip.format.payload import VISIBLE_ERROR
from vaezip.models.config import CHANNEL_MODES

MAX_ERRORS = range(1, 17)  # what the quality nibble can hold, less one


class NearLosslessCodec(LosslessCodec):
    mode = "near-lossless"

    def __init__(self, model, quality: int | None = None, visible: bool = False):
        """quality: the maximum error N (1-16) that every pixel may have; visible: that
        the colour of a frame with alpha may have, weighted by its opacity."""
        super().__init__(model)
        if quality not in MAX_ERRORS:
            raise OptionError(Option("max_error"),
                              f" must be {MAX_ERRORS[0]}-{MAX_ERRORS[-1]}, not {quality}")
        if visible and "A" not in CHANNEL_MODES[model.config.channels]:
            raise OptionError(Option("visible"), " is for a frame with alpha; model "
                              f"{model.name!r} codes {model.config.frame_text}")
        self.max_error, self.visible = quality, visible
        self.quality = quality - 1  # the nibble
        self.features = frozenset({VISIBLE_ERROR} if visible else ())

    @classmethod
    def for_reading(cls, vz, model) -> NearLosslessCodec:
        if not lossless_capable(model.config):
            raise FormatError(f"near-lossless file, but model {vz.model!r} has no 8-bit "
                              f"likelihood")
        visible = VISIBLE_ERROR in vz.features
        if visible and "A" not in CHANNEL_MODES[model.config.channels]:  # a damaged file's
            raise FormatError(f"visible-error file, but model {vz.model!r} has no alpha")
        return cls(model, vz.quality + 1, visible=visible)

    def check_state(self) -> bytes:
        return bytes([self.max_error])

    def encode(self, batch: Batch) -> Payload:
        if batch.levels is None:
            raise ValueError("the near-lossless codec needs the images' exact 8-bit levels")
        return Payload(stream=bitsback.encode_exact(self.model.exact, batch.levels,
                                                    self.max_error, self.visible),
                       check=self.check_state())

    def encode_each(self, batch: Batch) -> list[Payload]:
        return [Payload(stream=stream, check=self.check_state())
                for stream in bitsback.encode_exact_each(self.model.exact, batch.levels,
                                                         self.max_error, self.visible)]

    def _decode(self, vz, label: str) -> Pixels:
        self._check_records(vz, label)
        if not self.frame_intact(vz):
            raise FormatError(f"{label}: checksum mismatch: the data is damaged, or was made "
                              f"with a different version of model {vz.model!r}")
        try:
            levels = bitsback.decode_exact(self.model.exact, vz.stream, len(vz),
                                           self.model.config.input_dim, self.max_error)
        except FormatError as exc:
            raise FormatError(f"{label}: {exc}") from None
        return Pixels(levels)
