"""Users' images <-> the models' 28x28 space, in both directions. The one place that does it.

Forward, the way MNIST itself was made: grayscale; ink made light on a dark background;
levels stretched so the background is 0 and the ink 1; cropped to the ink; scaled to fit a
20x20 box (aspect kept); placed in 28x28 with its centre of mass at the centre. An image
that is already 28x28 skips the geometry (it is taken to be MNIST-shaped).
Backward, the inverse: the 28x28 result is cut back out, scaled to the crop's size, put
where the ink was on a canvas of the original size, and given back the original
background and ink levels, polarity and mode. A `Placement` records what was done.

numpy and Pillow only: no torch here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaezip.errors import ImageError

SIDE = 28  # model space is SIDE x SIDE
BOX = 20  # MNIST fits each digit's ink in a BOX x BOX square
# Refuse images above 100 megapixels before decoding them: a 48 MP phone photo passes,
# a decompression bomb (a few KB of PNG claiming gigapixels) does not.
MAX_PIXELS = 100_000_000
INK_THRESHOLD = 0.2  # normalised level above which a pixel counts as ink (for the crop)

MODES = ("L", "LA", "RGB", "RGBA", "I;16")  # what decoding can give back
POLARITIES = ("light-on-dark", "dark-on-light", "alpha")


@dataclass(frozen=True)
class Placement:
    """How one image was brought into model space: everything decoding needs to undo it."""

    name: str  # the input's file name (relative path inside an archive)
    width: int = SIDE  # original size
    height: int = SIDE
    mode: str = "L"  # Pillow mode to give back
    # "light-on-dark" is MNIST's (white ink on black); "dark-on-light" a drawing on paper;
    # "alpha": ink drawn on a transparent background.
    polarity: str = "light-on-dark"
    background: int = 0  # 8-bit gray level of the background (alpha: unused, transparent)
    ink: int = 255  # 8-bit gray level of the ink
    box: tuple[int, int, int, int] | None = None  # crop (x, y, w, h); None: 28x28 as is
    offset: tuple[int, int] = (0, 0)  # where the scaled crop sits in 28x28
    digit: int | None = None  # the label a conditional model encoded it with
    # Where the encoder warned that the input is not like a digit: its score (models/detector.py)
    # in hundredths, so above 100. Informational: decoding does not use it.
    nondigit: int | None = None

    @property
    def scaled_size(self) -> tuple[int, int]:
        """Size of the crop once fitted into the 20x20 box."""
        if self.box is None:
            return (SIDE, SIDE)
        return fit_box(self.box[2], self.box[3])


def fit_box(w: int, h: int) -> tuple[int, int]:
    scale = BOX / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


@dataclass
class Prepared:
    pixels: np.ndarray  # float32 [28, 28] in [0, 1], white ink on black
    placement: Placement
    warnings: list[str]


# --- reading -------------------------------------------------------------------------


def array_image(array, label: str):
    """A NumPy array as a Pillow image: H x W gray, H x W x 1/3/4 (gray, RGB, RGBA); uint8,
    uint16 (16-bit gray), bool, or float in [0, 1] (rounded to 8 bits)."""
    from PIL import Image

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or 0 in a.shape:
        raise ImageError(f"{label}: an image array must be H x W or H x W x 1, 3 or 4, not "
                         f"{'x'.join(map(str, a.shape))}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageError(f"{label}: {a.shape[1]}x{a.shape[0]} is over the "
                         f"{MAX_PIXELS:,}-pixel limit")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ImageError(f"{label}: float pixels must lie in [0, 1]")
        a = np.round(a * 255).astype(np.uint8)
    elif a.dtype == np.uint16 and a.ndim == 2:
        return Image.fromarray(a)  # mode I;16
    elif a.dtype != np.uint8:
        raise ImageError(f"{label}: pixels must be uint8, uint16 (gray), bool or float in "
                         f"[0, 1], not {a.dtype}")
    return Image.fromarray(np.ascontiguousarray(a), {2: "L", 3: "RGB", 4: "RGBA"}[
        2 if a.ndim == 2 else a.shape[2]])


def open_image(source, label: str):
    """Open and fully decode an image (a path, the bytes of an image file, a Pillow image
    or a NumPy array), refusing bombs, truncation and non-images."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard raises past 2x this
    warnings: list[str] = []
    if hasattr(source, "__array_interface__") and not isinstance(source, Image.Image):
        return array_image(source, label), warnings
    image = source if isinstance(source, Image.Image) else _open_file(source, label)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{label}: {width}x{height} is over the {MAX_PIXELS:,}-pixel limit "
            f"(a decompression bomb?)"
        )
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        warnings.append(f"{label}: has {frames} frames; using the first")
    try:
        if frames > 1:
            image.seek(0)
        image.load()
        # Phone photos: honour the EXIF rotation tag (JPEG/PNG keep EXIF in info, TIFF in
        # its tags); looking it up costs as much as the decode, so only where it can be.
        if "exif" in image.info or image.format == "TIFF":
            image = ImageOps.exif_transpose(image)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... on bad data
        raise ImageError(f"{label}: truncated or corrupt image ({exc})") from None
    return image, warnings


def _open_file(source: Path | bytes, label: str):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image Pillow can read") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{label}: image is over the {MAX_PIXELS:,}-pixel limit") from None
    except IsADirectoryError:
        raise ImageError(f"{label}: is a directory, not an image file") from None
    except OSError as exc:
        raise ImageError(f"{label}: cannot read ({exc.strerror or exc})") from None
    return image


def _levels(image) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(gray float [H, W] in [0, 1], alpha in [0, 1] or None, mode to give back)."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(values / peak, 0, 1), None, "I;16" if peak > 255 else "L"
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        span = values.max() - values.min()
        return (values - values.min()) / span if span > 0 else values * 0, None, "L"
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
        gray = np.asarray(rgba.convert("L"), dtype=np.float64) / 255.0
        return gray, alpha, "LA" if mode.startswith("L") else "RGBA"
    out = "L" if mode in ("L", "1") else "RGB"
    gray = image if mode == "L" else image.convert("L")
    return np.asarray(gray, dtype=np.float32) / np.float32(255), None, out


def _ink_level(values: np.ndarray) -> float:
    """The ink's level: the maximum when a few pixels reach it (clean images keep their
    exact levels), else the 99.9th percentile (a stray hot pixel is not the ink)."""
    peak = float(values.max())
    if (values >= peak - 0.02).sum() >= 3:
        return peak
    return _quantile(values.ravel(), 0.999)


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def _quantile(a: np.ndarray, q: float) -> float:
    """The q-quantile (nearest rank) of a 1-D array: np.partition, several times cheaper
    than np.percentile on the small arrays every image goes through."""
    k = int(round(q * (len(a) - 1)))
    return float(np.partition(a, k)[k])


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float image to size = (w, h), area-averaging when shrinking."""
    from PIL import Image

    if a.shape[::-1] == tuple(size):
        return a.astype(np.float32)
    shrink = size[0] < a.shape[1] or size[1] < a.shape[0]
    resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    resized = Image.fromarray(a.astype(np.float32), mode="F").resize(size, resample)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)


def prepare(source, name: str, label: str | None = None) -> Prepared:
    """Bring an image into model space: a path, the bytes of an image file, a Pillow
    image, or a NumPy array (see array_image)."""
    label = label or name
    image, warnings = open_image(source, label)
    gray, alpha, mode = _levels(image)
    height, width = gray.shape

    if alpha is not None and alpha.min() < 0.98:
        # Ink on a transparent background: the ink is where the alpha is; keep its gray.
        opaque = alpha > 0.5
        ink_gray = float(np.median(gray[opaque])) if opaque.any() else 0.0
        polarity, values, background, ink_level = "alpha", alpha, 0, round(ink_gray * 255)
    else:
        paper = _quantile(_border(gray), 0.5)
        dark_on_light = paper > 0.5
        values = 1.0 - gray if dark_on_light else gray
        low = 1.0 - paper if dark_on_light else paper
        high = _ink_level(values)
        if (width, height) == (SIDE, SIDE) and not dark_on_light and low == 0 and high >= 0.9:
            high = 1.0  # MNIST-shaped already (a tenth of MNIST's digits peak at 254): as is
        polarity = "dark-on-light" if dark_on_light else "light-on-dark"
        background = int(round(paper * 255))
        ink_level = int(round((1.0 - high if dark_on_light else high) * 255))
        if high - low < 0.1:
            values = np.zeros_like(values)
        else:
            values = np.clip((values - low) / (high - low), 0, 1)
            # Paper texture and JPEG noise: lift the floor to what the border shows, so
            # a clean MNIST digit (border exactly 0) passes through untouched.
            border = _border(values)
            floor = min(0.3, _quantile(border, 0.95)) if border.any() else 0.0
            if floor > 0:
                values = np.clip((values - floor) / (1 - floor), 0, 1)

    ink = values > INK_THRESHOLD
    if not ink.any():
        warnings.append(f"{label}: no ink found (a blank or flat image); encoding a blank digit")
        values = np.zeros_like(values)

    if (width, height) == (SIDE, SIDE):
        pixels, box, offset = values.astype(np.float32), None, (0, 0)
    elif not ink.any():  # blank: the whole frame, centred
        box = (0, 0, width, height)
        offset = _centre_of_mass_offset(np.zeros(fit_box(width, height)[::-1]))
        pixels = np.zeros((SIDE, SIDE), np.float32)
    else:
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        x0, y0 = int(cols[0]), int(rows[0])
        bw, bh = int(cols[-1]) - x0 + 1, int(rows[-1]) - y0 + 1
        box = (x0, y0, bw, bh)
        sw, sh = fit_box(bw, bh)
        scaled = _resize(values[y0 : y0 + bh, x0 : x0 + bw], (sw, sh))  # [sh, sw]
        offset = _centre_of_mass_offset(scaled)
        pixels = np.zeros((SIDE, SIDE), np.float32)
        pixels[offset[1] : offset[1] + sh, offset[0] : offset[0] + sw] = scaled

    placement = Placement(
        name=name, width=width, height=height, mode=mode, polarity=polarity,
        background=background, ink=ink_level, box=box, offset=offset,
    )
    return Prepared(pixels=pixels, placement=placement, warnings=warnings)


def _centre_of_mass_offset(scaled: np.ndarray) -> tuple[int, int]:
    """Where to put `scaled` in 28x28 so its centre of mass lands on the centre (clipped)."""
    sh, sw = scaled.shape
    mass = float(scaled.sum())
    if mass <= 0:
        return (SIDE - sw) // 2, (SIDE - sh) // 2
    cy = float((scaled.sum(axis=1) * (np.arange(sh) + 0.5)).sum()) / mass
    cx = float((scaled.sum(axis=0) * (np.arange(sw) + 0.5)).sum()) / mass
    dx = int(np.clip(round(SIDE / 2 - cx), 0, SIDE - sw))
    dy = int(np.clip(round(SIDE / 2 - cy), 0, SIDE - sh))
    return dx, dy


def exact_levels(source, label: str, mode: str = "lossless") -> np.ndarray:
    """For (near-)lossless coding: the image's 8-bit gray pixels as they are, uint8 [784].
    ImageError for anything but 28x28 8-bit grayscale: nothing else round-trips."""
    image, _ = open_image(source, label)
    if image.mode == "1":  # bilevel: 0/255 in L, exactly
        image = image.convert("L")
    if image.mode != "L" or image.size != (SIDE, SIDE):
        raise ImageError(f"{label}: {mode} coding takes 28x28 8-bit grayscale images (mode "
                         f"L); this is {image.size[0]}x{image.size[1]} {image.mode}")
    return np.asarray(image, dtype=np.uint8).reshape(-1)


def exact_image(levels: np.ndarray):
    """A lossless file's pixels as the 28x28 8-bit gray image they were."""
    from PIL import Image

    return Image.fromarray(np.asarray(levels, np.uint8).reshape(SIDE, SIDE), mode="L")


# --- writing -------------------------------------------------------------------------


def restore(pixels: np.ndarray, placement: Placement, size: tuple[int, int] | None = None):
    """Model space [28, 28] in [0, 1] -> a Pillow image like the original (or of `size`)."""
    from PIL import Image

    p = placement
    values = np.clip(np.asarray(pixels, dtype=np.float32).reshape(SIDE, SIDE), 0, 1)
    if p.box is None:
        canvas = _resize(values, (p.width, p.height))
    else:
        canvas = _unplace(values, p)

    if p.polarity == "alpha":
        alpha = np.round(canvas * 255).astype(np.uint8)
        gray = np.full_like(alpha, p.ink)
        image = Image.merge("LA", [Image.fromarray(gray, "L"), Image.fromarray(alpha, "L")])
        image = image.convert(p.mode) if p.mode == "RGBA" else image
    else:
        levels = p.background + canvas * (p.ink - p.background)  # 8-bit scale
        if p.mode == "I;16":
            image = Image.fromarray(np.round(levels * 257).astype(np.uint16))  # mode I;16
        else:
            image = Image.fromarray(np.round(levels).astype(np.uint8), "L")
            if p.mode != "L":
                image = image.convert(p.mode)  # RGB: gray; LA/RGBA: opaque
    if size is not None and size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def _unplace(values: np.ndarray, p: Placement) -> np.ndarray:
    """Map the whole 28x28 frame back onto the original canvas (the inverse of crop, fit
    and shift), so strokes the decoder draws past the crop box are not cut off."""
    x0, y0, bw, bh = p.box
    sw, sh = p.scaled_size
    dx, dy = p.offset
    sx, sy = sw / bw, sh / bh  # model pixels per original pixel
    frame_w, frame_h = max(1, round(SIDE / sx)), max(1, round(SIDE / sy))
    ox, oy = x0 - round(dx / sx), y0 - round(dy / sy)  # the frame's corner, original coords
    # Resize only the part of the frame that lands on the canvas (a crop of a huge photo
    # must not blow up into a frame larger than the photo).
    left, top = max(0, -ox), max(0, -oy)
    right, bottom = min(frame_w, p.width - ox), min(frame_h, p.height - oy)
    canvas = np.zeros((p.height, p.width), np.float32)
    if right <= left or bottom <= top:
        return canvas
    frame = _resize(values, (frame_w, frame_h))
    canvas[oy + top : oy + bottom, ox + left : ox + right] = frame[top:bottom, left:right]
    return canvas


def native_image(pixels: np.ndarray):
    """Model space as an 8-bit 28x28 white-on-black image."""
    from PIL import Image

    values = np.clip(np.asarray(pixels, dtype=np.float32).reshape(SIDE, SIDE), 0, 1)
    return Image.fromarray(np.round(values * 255).astype(np.uint8), "L")


def image_bytes(image, fmt: str = "PNG") -> bytes:
    """Encode a Pillow image; PNG optimised (what vaezip writes by default)."""
    buffer = io.BytesIO()
    if fmt.upper() in ("JPEG", "JPG"):
        image = image.convert("RGB" if image.mode in ("RGB", "RGBA") else "L")
        image.save(buffer, format="JPEG", quality=95)
    elif fmt.upper() == "PNG":
        image.save(buffer, format="PNG", optimize=True)
    else:
        image.save(buffer, format=fmt.upper())
    return buffer.getvalue()
