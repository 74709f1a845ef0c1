"""Choosing a codec: the four modes by name, the mode a model codes in by default, and the
codec that reads a given file.
"""

from __future__ import annotations

from vaezip.codecs.base import Codec
from vaezip.codecs.floating import FloatCodec
from vaezip.codecs.lossless import LosslessCodec
from vaezip.codecs.nearlossless import NearLosslessCodec
from vaezip.codecs.quantised import QuantisedCodec
from vaezip.errors import Option, OptionError
from vaezip.format.payload import MODE_FLOAT, VzFile

CODECS: dict[str, type[Codec]] = {
    c.mode: c for c in (FloatCodec, QuantisedCodec, LosslessCodec, NearLosslessCodec)}


def codec_class(mode: str) -> type[Codec]:
    codecs = CODECS
    if mode not in codecs:
        raise OptionError(Option("mode"), f" must be one of {', '.join(codecs)}, not {mode!r}")
    return codecs[mode]


def default_mode(model, lossless: bool = False) -> str:
    """The mode a model codes in unless told otherwise: quantised where it has an entropy
    model, else float (the autoencoder, and models trained before coded files)."""
    if lossless:
        return "lossless"
    return "quantised" if model.entry.codec.get("sigma_units") else MODE_FLOAT


def for_file(vz: VzFile, model) -> Codec:
    """The codec that reads vz, bound to model (the one vz names)."""
    return codec_class(vz.mode).for_reading(vz, model)
