"""The lossless mode: every 8-bit pixel back, by bits-back coding (bitsback.py) with a
model whose decoder is a 256-level likelihood.

Files are written in format 4, whose probabilities come from the integer network and
tables of exact.py and so decode on any machine. Format-3 lossless files took them from
the float network: they still decode where the arithmetic matches the writer's, and
otherwise fail with a message saying so.

It takes images exactly in the model's frame (a digit model's 28x28 gray, or a model of
your own images' C x H x W), as they are: no levels, no crop, no resizing, since anything
else would not round-trip. The checksum covers the model's hash and the decoded pixels, so
a stream that decodes to anything else is refused.
"""

from __future__ import annotations

from vaezip.codecs import bitsback
from vaezip.codecs.base import Batch, Codec, Payload, Pixels
from vaezip.errors import FormatError, Option, OptionError
from vaezip.format import payload
from vaezip.frames.digit import SIDE
from vaezip.models.registry import LOSSLESS_MODEL


def lossless_capable(config) -> bool:
    """Whether a model can code pixels exactly: it needs the 256-level likelihood."""
    return config.likelihood == "logistic" and not config.conditional


class LosslessCodec(Codec):
    mode = "lossless"
    takes_levels = True

    @classmethod
    def check_model(cls, model) -> None:
        if not lossless_capable(model.config):
            raise OptionError(Option("lossless"), " needs a model with the 256-level likelihood "
                              f"(such as {LOSSLESS_MODEL}); {model.name!r} is "
                              f"{model.config.likelihood}")

    @classmethod
    def for_reading(cls, vz, model) -> LosslessCodec:
        if not lossless_capable(model.config):
            raise FormatError(f"lossless file, but model {vz.model!r} has no 8-bit likelihood")
        return cls(model)

    def encode(self, batch: Batch) -> Payload:
        if batch.levels is None:
            raise ValueError("the lossless codec needs the images' exact 8-bit levels")
        return Payload(stream=bitsback.encode_exact(self.model.exact, batch.levels),
                       check=batch.levels.tobytes())

    def encode_each(self, batch: Batch) -> list[Payload]:
        return [Payload(stream=stream, check=batch.levels[i].tobytes())
                for i, stream in enumerate(bitsback.encode_exact_each(
                    self.model.exact, batch.levels))]

    @staticmethod
    def _check_records(vz, label: str) -> None:
        for p in vz.images:
            if (p.width, p.height, p.mode, p.box, p.digit) != (SIDE, SIDE, "L", None, None):
                # Records are stored relative to the model's frame (frames/plain.relative),
                # so an image exactly in the frame has the default, 28x28 gray, record.
                raise FormatError(f"{label}: {vz.mode} images must be exactly in the model's "
                                  f"frame, with no crop or digit")

    def _decode(self, vz, label: str) -> Pixels:
        self._check_records(vz, label)
        exact = vz.version >= payload.EXACT_VERSION
        framed = vz.version >= payload.FRAME_VERSION
        if framed and not self.frame_intact(vz):
            raise FormatError(f"{label}: checksum mismatch: the frame is damaged, or was made "
                              f"with a different version of model {vz.model!r}")
        try:
            if exact:
                levels = bitsback.decode_exact(self.model.exact, vz.stream, len(vz),
                                               self.model.config.input_dim)
            else:
                levels = bitsback.decode(self.model.net, vz.stream, len(vz),
                                         self.model.config.input_dim)
            ok = framed or vz.checksum_matches(self.model.sha256, levels.tobytes())
        except FormatError as exc:
            if not exact:
                raise FormatError(f"{label}: {_MACHINE_DEPENDENT}") from None
            raise FormatError(f"{label}: {exc}") from None
        if not ok:
            raise FormatError(f"{label}: " + (_MACHINE_DEPENDENT if not exact else (
                f"pixel checksum mismatch: the lossless data is damaged, or was made with a "
                f"different version of model {vz.model!r}")))
        return Pixels(levels)


# Format-3 lossless files: the stream, the model or the machine may be at fault, and only
# the last is worth telling the user how to fix.
_MACHINE_DEPENDENT = (
    "a format-3 lossless file, whose probabilities depend on the floating-point arithmetic "
    "of the machine that wrote it, did not decode here (it is damaged, was made with another "
    "version of its model, or this machine computes differently). Decode it on the machine "
    "that wrote it, and re-encode the images there with this vaezip: its lossless files "
    "(format 4) decode on any machine")
