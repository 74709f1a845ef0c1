"""Non-digit images made with PIL, for the "not a digit" warning's tests and benchmark:
gradients, shapes, text lines, noise and drawn faces, each kind varied in size, position,
contrast and polarity. Deterministic for a seed."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

KINDS = ("gradient", "shapes", "text", "noise", "face")
_WORDS = "the quick brown fox jumps over lazy dog pack my box with five dozen liquor jugs".split()


def nondigit(kind: str, rng: np.random.Generator) -> Image.Image:
    """One image of `kind` (see KINDS), 64-200 px a side, grayscale."""
    w, h = (int(v) for v in rng.integers(64, 200, 2))
    return {"gradient": _gradient, "shapes": _shapes, "text": _text, "noise": _noise,
            "face": _face}[kind](rng, w, h)


def nondigits(kind: str, count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    return [nondigit(kind, rng) for _ in range(count)]


def _gradient(rng, w, h):
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    if rng.random() < 0.5:  # linear, at any angle
        angle = rng.uniform(0, 2 * np.pi)
        t = x * np.cos(angle) + y * np.sin(angle)
    else:  # radial, from anywhere in the frame
        cx, cy = rng.random(2)
        t = np.hypot(x - cx * w / max(w, h), y - cy * h / max(w, h))
    t = (t - t.min()) / (np.ptp(t) or 1)
    lo, hi = sorted(rng.uniform(0, 255, 2))
    return Image.fromarray((lo + (hi - lo) * t).astype(np.uint8))


def _canvas(rng, w, h):
    paper, ink = (255, 0) if rng.random() < 0.5 else (0, 255)
    image = Image.new("L", (w, h), paper)
    return image, ImageDraw.Draw(image), ink


def _shapes(rng, w, h):
    image, draw, ink = _canvas(rng, w, h)
    for _ in range(rng.integers(1, 4)):
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        x1, y1 = x0 + rng.integers(w // 6, w // 2), y0 + rng.integers(h // 6, h // 2)
        kind = rng.choice(["rectangle", "ellipse", "triangle", "outlined"])
        if kind == "rectangle":
            draw.rectangle([x0, y0, x1, y1], fill=ink)
        elif kind == "ellipse":
            draw.ellipse([x0, y0, x1, y1], fill=ink)
        elif kind == "triangle":
            draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], fill=ink)
        else:  # an outlined rectangle or triangle (an outlined ellipse would be a zero)
            width = int(rng.integers(2, 8))
            if rng.random() < 0.5:
                draw.rectangle([x0, y0, x1, y1], outline=ink, width=width)
            else:
                draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], outline=ink,
                             width=width)
    return image


def _text(rng, w, h):
    image, draw, ink = _canvas(rng, w, h)
    font = ImageFont.load_default(size=int(rng.integers(10, 24)))
    lines = int(rng.integers(1, 4))
    for row in range(lines):
        words = " ".join(rng.choice(_WORDS, int(rng.integers(2, 5))))
        draw.text((4, 4 + row * (h - 8) // lines), words, fill=ink, font=font)
    return image


def _noise(rng, w, h):
    kind = rng.integers(3)
    if kind == 0:  # uniform
        a = rng.random((h, w)) * 255
    elif kind == 1:  # smooth blobs, like an out-of-focus photograph
        small = rng.random((int(rng.integers(3, 10)),) * 2) * 255
        a = np.asarray(Image.fromarray(small.astype(np.uint8)).resize((w, h),
                                                                      Image.Resampling.BICUBIC))
    else:  # salt and pepper on a gray field
        a = np.full((h, w), 128.0)
        a[rng.random((h, w)) < 0.1] = 0
        a[rng.random((h, w)) < 0.1] = 255
    return Image.fromarray(a.astype(np.uint8))


def _face(rng, w, h):
    image, draw, ink = _canvas(rng, w, h)
    s = min(w, h)
    x0, y0 = rng.integers(0, w - s + 1), rng.integers(0, h - s + 1)
    line = max(2, s // 30)
    m = s // 12
    draw.ellipse([x0 + m, y0 + m, x0 + s - m, y0 + s - m], outline=ink, width=line)
    eye = max(3, s // 10)
    for ex in (0.33, 0.6):
        cx, cy = x0 + int(ex * s), y0 + int(0.38 * s)
        draw.ellipse([cx, cy, cx + eye, cy + eye], fill=ink)
    smile = 160 if rng.random() < 0.7 else 340  # a smile, or a frown
    draw.arc([x0 + s // 3, y0 + s // 2, x0 + 2 * s // 3, y0 + 3 * s // 4],
             200 - smile if smile == 340 else 20, smile, fill=ink, width=line)
    return image
