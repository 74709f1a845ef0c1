"""Image fixtures built in code: the kinds of files users hand to vaezip."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

MINI = Path(__file__).resolve().parent / "data" / "mnist-mini.npz"


def mnist_digit(index: int = 0) -> np.ndarray:
    """A real MNIST test digit: uint8 [28, 28], white on black."""
    with np.load(MINI) as mini:
        return mini["test_images"][index].copy()


def png_bytes(image: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kw.pop("format", "PNG"), **kw)
    return buffer.getvalue()


def on_paper(index: int = 1, size: int = 256, paper: int = 236, ink: int = 35) -> Image.Image:
    """A digit drawn dark on light paper, large and off-centre, like a scan."""
    big = Image.fromarray(mnist_digit(index), "L").resize((size * 3 // 4,) * 2,
                                                          Image.Resampling.BICUBIC)
    values = np.zeros((size, size))
    values[size // 8 : size // 8 + big.height, : big.width] = np.asarray(big) / 255
    return Image.fromarray((paper - values * (paper - ink)).round().astype(np.uint8), "L")


def transparent(index: int = 2) -> Image.Image:
    """Black strokes on a transparent background (RGBA), 64x64."""
    alpha = Image.fromarray(mnist_digit(index), "L").resize((64, 64))
    black = Image.new("L", (64, 64), 0)
    return Image.merge("RGBA", [black, black, black, alpha])


def sixteen_bit(index: int = 3) -> Image.Image:
    values = mnist_digit(index).astype(np.uint16) * 257
    return Image.fromarray(values).resize((56, 56))  # uint16 -> mode I;16


def palette(index: int = 4) -> Image.Image:
    return Image.fromarray(255 - mnist_digit(index), "L").resize((40, 40)).convert("P")


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid-looking PNG header claiming width x height, with almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def two_frame_gif() -> bytes:
    frames = [Image.fromarray(mnist_digit(i), "L").convert("P") for i in (5, 6)]
    return png_bytes(frames[0], format="GIF", save_all=True, append_images=frames[1:])
