"""Plain framing: images <-> a model's frame (C x H x W) as they are, for every model that
is not a digit model. An image already in the frame is taken as it is; any other size is
resized into the frame with its aspect kept and centred, and decoding cuts that region
back out and resizes it to the original size. Colour stays colour and alpha stays alpha:
the image is converted to the frame's channels on the way in (over white, where the frame
has no alpha and the image has) and back to its own mode on the way out. The record (a
Placement) keeps the original size and mode.

numpy and Pillow only: no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vaezip.errors import ImageError
from vaezip.frames.digit import Placement, Prepared, open_image

CHANNEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # as models/config.py
_DEFAULT = Placement(name="")


@dataclass(frozen=True)
class Frame:
    """A model's frame: channels, height, width (ModelConfig.frame)."""

    channels: int
    height: int
    width: int

    @property
    def mode(self) -> str:
        return CHANNEL_MODES[self.channels]

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def describe(self) -> str:
        name = {"L": "gray", "LA": "gray+alpha"}.get(self.mode, self.mode)
        return f"{self.width}x{self.height} {name}"

    def fitted(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Where an image of width x height sits in the frame: (x, y, w, h), its aspect
        kept, as large as fits, centred."""
        scale = min(self.width / width, self.height / height)
        w = min(self.width, max(1, round(width * scale)))
        h = min(self.height, max(1, round(height * scale)))
        return (self.width - w) // 2, (self.height - h) // 2, w, h


def given_back_mode(image) -> str:
    """The mode a decoded image is given back in: the image's own, where Pillow can
    convert the frame's channels back to it (palettes come back as RGB or RGBA)."""
    mode = image.mode
    if mode == "P":
        return "RGBA" if "transparency" in image.info else "RGB"
    if mode in ("1", "I", "I;16", "F"):
        return "L"
    if mode in ("La", "PA"):
        return "LA"
    if mode == "RGBa":
        return "RGBA"
    return mode if mode in CHANNEL_MODES.values() else "RGB"


def _converted(image, frame: Frame):
    mode = given_back_mode(image)
    if image.mode in ("I", "I;16", "F"):  # 16-bit or float gray: scale to 8 bits
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode == "I;16" or values.max() > 255 else 255.0
        from PIL import Image

        image = Image.fromarray(np.round(np.clip(values / peak, 0, 1) * 255).astype(np.uint8),
                                "L")
    elif image.mode != mode:
        image = image.convert(mode)
    if mode in ("LA", "RGBA") and frame.mode in ("L", "RGB"):
        # A frame without alpha takes what a viewer sees: the image over white. Pillow's
        # convert would drop the alpha and bare the colours under transparent pixels.
        from PIL import Image

        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"),
                                      image.convert("RGBA"))
    return image if image.mode == frame.mode else image.convert(frame.mode)


def _as_rows(image) -> np.ndarray:
    """A Pillow image in the frame's mode -> uint8 [C * H * W], channel by channel."""
    a = np.asarray(image, dtype=np.uint8)
    a = a[:, :, None] if a.ndim == 2 else a
    return np.ascontiguousarray(a.transpose(2, 0, 1)).reshape(-1)


def _from_rows(levels: np.ndarray, frame: Frame):
    from PIL import Image

    a = np.asarray(levels, np.uint8).reshape(frame.channels, frame.height, frame.width)
    a = a.transpose(1, 2, 0)
    return Image.fromarray(np.ascontiguousarray(a[:, :, 0] if frame.channels == 1 else a),
                           frame.mode)


def prepare(source, name: str, frame: Frame, label: str | None = None) -> Prepared:
    """An image in the frame, float32 [C * H * W] in [0, 1], with its record."""
    from PIL import Image

    label = label or name
    image, warnings = open_image(source, label)
    mode = given_back_mode(image)
    width, height = image.size
    converted = _converted(image, frame)
    if (width, height) != frame.size:
        x, y, w, h = frame.fitted(width, height)
        shrink = w < width or h < height
        resized = converted.resize((w, h), Image.Resampling.BOX if shrink
                                   else Image.Resampling.BICUBIC)
        converted = Image.new(frame.mode, frame.size)
        converted.paste(resized, (x, y))
        warnings.append(f"{label}: {width}x{height}, resized into the model's "
                        f"{frame.describe()} frame")
    pixels = _as_rows(converted).astype(np.float32) / np.float32(255)
    return Prepared(pixels=pixels, placement=Placement(name=name, width=width, height=height,
                                                       mode=mode), warnings=warnings)


def exact_levels(source, label: str, frame: Frame, mode: str = "lossless") -> np.ndarray:
    """For (near-)lossless coding: an image exactly in the frame (its size, and as many
    channels), as uint8 [C * H * W]. ImageError for anything else: it would not round-trip."""
    image, _ = open_image(source, label)
    own = given_back_mode(image)
    if image.size != frame.size or own != frame.mode or image.mode in ("I", "I;16", "F"):
        raise ImageError(f"{label}: {mode} coding with this model takes {frame.describe()} "
                         f"images (its frame); this is {image.size[0]}x{image.size[1]} "
                         f"{image.mode}")
    return _as_rows(_converted(image, frame))


def exact_image(levels: np.ndarray, frame: Frame):
    """Exact pixels back as the image they were."""
    return _from_rows(levels, frame)


def restore(pixels: np.ndarray, placement: Placement, frame: Frame,
            size: tuple[int, int] | None = None):
    """The frame's pixels [C * H * W] in [0, 1] -> a Pillow image like the original: its
    region of the frame, at its size, in its mode (or at size)."""
    from PIL import Image

    levels = np.round(np.clip(np.asarray(pixels, np.float32), 0, 1) * 255).astype(np.uint8)
    image = _from_rows(levels, frame)
    p = placement
    if (p.width, p.height) != frame.size:
        x, y, w, h = frame.fitted(p.width, p.height)
        image = image.crop((x, y, x + w, y + h)).resize((p.width, p.height),
                                                         Image.Resampling.BICUBIC)
    if p.mode != image.mode:
        image = image.convert(p.mode)
    if size is not None and size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def native_image(pixels: np.ndarray, frame: Frame):
    """The frame itself, as decoded."""
    levels = np.round(np.clip(np.asarray(pixels, np.float32), 0, 1) * 255).astype(np.uint8)
    return _from_rows(levels, frame)


def _swap(value, a, b):
    return b if value == a else a if value == b else value


def relative(placement: Placement, frame: Frame) -> Placement:
    """A record with the frame's size and mode swapped with the defaults' (28x28 L), so
    that a record of an image already in the frame is stored as nothing at all. Its own
    inverse: the writer and the reader both apply it."""
    return replace(placement, width=_swap(placement.width, _DEFAULT.width, frame.width),
                   height=_swap(placement.height, _DEFAULT.height, frame.height),
                   mode=_swap(placement.mode, _DEFAULT.mode, frame.mode))
