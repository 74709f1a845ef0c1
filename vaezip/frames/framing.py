"""The one place that picks a model's way into its frame: the digit framing of the MNIST
models (digit.py) or the plain framing of every other (plain.py), by the model config's
`framing`. Everything above (the pipeline, the API, the reader) goes through here.
"""

from __future__ import annotations

import numpy as np

from vaezip.frames import digit, plain
from vaezip.frames.digit import Placement, Prepared


def frame_of(config) -> plain.Frame:
    return plain.Frame(*config.frame)


def _plain(config) -> bool:
    return config.framing == "plain"


def prepare(config, source, name: str, label: str | None = None) -> Prepared:
    """An input in the model's frame (float32, flat) with its record, for the lossy modes."""
    if _plain(config):
        return plain.prepare(source, name, frame_of(config), label)
    item = digit.prepare(source, name, label)
    return Prepared(item.pixels.reshape(-1), item.placement, item.warnings)


def exact_levels(config, source, label: str, mode: str = "lossless") -> np.ndarray:
    """An input's exact 8-bit pixels, uint8 [C * H * W], for (near-)lossless coding."""
    if _plain(config):
        return plain.exact_levels(source, label, frame_of(config), mode)
    return digit.exact_levels(source, label, mode)


def exact_placement(config, name: str) -> Placement:
    """The record of an image coded exactly: the frame's own size and mode."""
    frame = frame_of(config)
    return Placement(name=name, width=frame.width, height=frame.height, mode=frame.mode)


def exact_image(config, levels: np.ndarray):
    if _plain(config):
        return plain.exact_image(levels, frame_of(config))
    return digit.exact_image(levels)


def restore(config, pixels: np.ndarray, placement: Placement,
            size: tuple[int, int] | None = None):
    """Decoded pixels of the frame -> the image as the user gave it (or at size)."""
    if _plain(config):
        return plain.restore(pixels, placement, frame_of(config), size)
    return digit.restore(pixels, placement, size)


def native_image(config, pixels: np.ndarray):
    """The frame itself (a digit model's: 28x28, white on black)."""
    if _plain(config):
        return plain.native_image(pixels, frame_of(config))
    return digit.native_image(pixels)


def stored(config, placement: Placement) -> Placement:
    """A record as a file stores it (plain framing: relative to the frame; the reader
    applies the same map to get it back, plain.relative)."""
    return plain.relative(placement, frame_of(config)) if _plain(config) else placement


def given_back(config, images) -> tuple[Placement, ...]:
    """A file's records as the images they describe (stored's inverse)."""
    if not _plain(config):
        return tuple(images)
    frame = frame_of(config)
    return tuple(plain.relative(p, frame) for p in images)
