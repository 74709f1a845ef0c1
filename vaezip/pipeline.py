"""The path of an image, one way down and back, shared by the CLI and the Python API:

encode:  sources -> frames (the model's frame + placement) -> Batch -> codec -> format -> bytes
decode:  bytes -> format.open_vz -> codec.decode -> model decoder -> frames.restore -> images

Library code: raises VaezipError subclasses, never prints. Options are named as the
Python API names them (quality, lossless, float_latents, digit); the CLI maps them to flags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np

from vaezip.codecs import Batch, Codec, Latents, Pixels
from vaezip.codecs.guard import GuardPlan, chunk_frames, guarded_single_files, load_guard
from vaezip.codecs.modes import codec_class, default_mode, for_file
from vaezip.errors import (
    FormatError,
    ImageError,
    InputErrors,
    Option,
    OptionError,
    UnknownModelError,
)
from vaezip.fileio import write_output
from vaezip.format import container, payload
from vaezip.format.archive import FRAME_IMAGES, framed_bytes
from vaezip.format.writer import file_bytes, single_files
from vaezip.frames import framing
from vaezip.frames.digit import image_bytes
from vaezip.frames.sources import STDIO, Source
from vaezip.models.detector import CALIBRATION_QUANTILE
from vaezip.models.registry import DEFAULT_MODEL, LOSSLESS_MODEL, NEAR_LOSSLESS_MODEL, find
from vaezip.models.runtime import load


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode. None means the default: the model's own mode and quality."""

    # A registry name; default: by mode, registry.DEFAULT_MODEL, LOSSLESS_MODEL or
    # NEAR_LOSSLESS_MODEL.
    model: str | None = None
    quality: int | None = None  # quantised mode: 1-8 (entropy.QUALITY_STEPS)
    lossless: bool = False  # every pixel back (images exactly in the model's frame)
    float_latents: bool = False  # mu and sigma as float16 (the version 1-2 layout)
    digit: int | None = None  # the digit shown, for conditional models
    max_error: int | None = None  # near-lossless: every pixel within this many levels
    # With max_error and a frame with alpha: the bound is on what is seen (colour error
    # times opacity), so colour under transparent pixels is not kept (as WebP's default).
    visible: bool = False
    # The identity guard (codecs/guard.py): digits whose lossy decoding may read as another digit
    # are coded near-lossless instead, where the model has a guard.
    guard: bool = True

    def guard_plan(self, codec: Codec):
        """The guard.GuardPlan for codec (made by codec()), or None: no guard asked for,
        a mode other than quantised, or a model without one."""
        if not self.guard or codec.mode != "quantised":
            return None

        guard = load_guard(codec.model.entry)
        return None if guard is None else GuardPlan(guard)

    def codec(self) -> Codec:
        """The codec these options ask for, bound to its model; OptionError on options that
        exclude each other or do not fit the model, before any image is read."""
        near = self.max_error is not None
        if self.lossless and near:
            raise OptionError(Option("lossless"), " and ", Option("max_error"),
                              " exclude each other")
        if self.visible and not near:
            raise OptionError(Option("visible"), " goes with ", Option("max_error"))
        exact = self.lossless or near  # the 8-bit levels themselves, by bits-back
        if exact and (self.float_latents or self.quality is not None
                      or self.digit is not None):
            raise OptionError(Option("max_error" if near else "lossless"), " excludes ",
                              Option("float_latents"), ", ", Option("quality"), " and ",
                              Option("digit"))
        entry = find(self.model or (NEAR_LOSSLESS_MODEL if near else
                                    LOSSLESS_MODEL if self.lossless else DEFAULT_MODEL))
        check_digit(entry.config, entry.name, self.digit, required=not exact)
        model = load(entry.name)
        if near:
            return codec_class("near-lossless")(model, self.max_error, visible=self.visible)
        if self.float_latents and model.config.framing != "digit":
            raise OptionError(Option("float_latents"), " is for the digit models' files; "
                              f"{entry.name!r} frames images plainly: use the coded default")
        mode = "float" if self.float_latents else default_mode(model, self.lossless)
        if self.quality is not None and mode != "quantised":
            raise OptionError(Option("quality"), " applies to coded .vz files; ", *(
                ("drop ", Option("float_latents")) if self.float_latents
                else (f"model {entry.name!r} has no entropy model",)))
        return codec_class(mode)(model, self.quality)


def check_digit(config, name: str, digit: int | None, required: bool) -> None:
    """A digit goes with conditional models, and encoding needs it for them."""
    classes = config.classes
    if digit is not None and not classes:
        raise OptionError(Option("digit"), " needs a conditional model (such as mnist-cvae-8d); "
                          f"{name} is not one")
    if digit is not None and not 0 <= digit < classes:
        raise OptionError(Option("digit"), f" must be between 0 and {classes - 1}, not {digit}")
    if required and classes and digit is None:
        raise OptionError(f"{name} is conditional: say which digit the images show with ",
                          Option("digit"))


@dataclass(frozen=True)
class ReadBatch:
    """Inputs read into model space: the batch, each input's size in bytes, warnings."""

    batch: Batch
    sizes: tuple[int, ...]
    warnings: tuple[str, ...]


def read_batch(sources: list[Source], codec: Codec, digit: int | None = None,
               on_item: Callable[[], None] | None = None) -> ReadBatch:
    """Read every input for codec. All inputs are tried, so one run reports every bad
    file: InputErrors names them all, and callers write nothing."""
    pixels, levels, images, sizes, warnings, errors = [], [], [], [], [], []
    lossless = codec.takes_levels
    config = codec.model.config
    for source in sources:
        try:
            content = source.read()
            if isinstance(content, bytes) and container.sniff(content):
                raise ImageError(f"{source.label}: already a .vz file (vaezip decode turns it "
                                 f"back into an image)")
            if lossless:
                row = framing.exact_levels(config, content, source.label, codec.mode)
                levels.append(row)
                pixels.append(row.astype(np.float32) / 255)
                images.append(framing.exact_placement(config, source.name))
            else:
                item = framing.prepare(config, content, source.name, label=source.label)
                pixels.append(item.pixels)
                images.append(replace(item.placement, digit=digit))
                warnings += item.warnings
            sizes.append(source.size(content))
        except ImageError as exc:
            errors.append(str(exc))
        if on_item:
            on_item()
    if errors:
        raise InputErrors(errors, len(sources))
    pixels = np.stack(pixels)
    posterior = None
    if not lossless and codec.model.entry.nondigit is not None:
        # Lossless gives every pixel back, digit or not; the others warn (and keep the
        # encoder's output for the codec).
        posterior = codec.model.encode(pixels, digit)
        warnings += _score_nondigits(codec.model, pixels, posterior, images, sources, digit)
    batch = Batch(pixels, tuple(images), np.stack(levels) if lossless else None, posterior)
    return ReadBatch(batch, tuple(sizes), tuple(warnings))


def _score_nondigits(model, pixels: np.ndarray, posterior, images: list,
                     sources: list[Source], digit: int | None) -> list[str]:
    """Warn about the inputs unlike the model's training digits, and mark their records
    with the score (in place). Blank inputs have had their own warning."""
    scores = model.nondigit_scores(pixels, digit, posterior)
    hundredths = np.minimum(scores * 100, 1e12).astype(np.int64)
    warnings = []
    for i in np.flatnonzero((hundredths > 100) & pixels.any(axis=1)):
        images[i] = replace(images[i], nondigit=int(hundredths[i]))
        unlike, typical = (("does not look like a digit", "training digits")
                           if model.config.framing == "digit" else
                           (f"unlike the images model {model.name} was trained on",
                            "its training images"))
        warnings.append(f"{sources[i].label}: {unlike} (score {hundredths[i] / 100:.2f}; "
                        f"{CALIBRATION_QUANTILE:.1%} of {typical} score under 1): a lossy "
                        f"decoding will not resemble it")
    return warnings


def encode_batch(codec: Codec, guard: GuardPlan | None, batch: Batch,
                 packed: bool) -> tuple[list[bytes], np.ndarray]:
    """The .vz bytes of a read batch, as the CLI and the API write them: packed, one file
    (a framed archive; for float latents, the version 1-2 packed file), else one file per
    image; and which images the identity guard coded near-lossless (bool [N])."""
    if codec.mode == payload.MODE_FLOAT:  # never guarded: no model of its own to fall back on
        files = [file_bytes(codec, batch, packed=True)] if packed else single_files(codec, batch)
        return files, np.zeros(len(batch), bool)
    if not packed:
        return guarded_single_files(codec, guard, batch)
    frames = [frame for i in range(0, len(batch), FRAME_IMAGES[codec.mode])
              for frame in chunk_frames(codec, guard, batch[i : i + FRAME_IMAGES[codec.mode]])]
    flags = np.zeros(len(batch), bool)
    if guard is not None:  # the guard's frames hold the names of the images it coded
        guarded = {n for _, names, own in frames if own for n in names}
        flags = np.array([p.name in guarded for p in batch.images])
    return [framed_bytes(codec.model.name, frames)], flags


def encode_files(sources: list[Source], targets: list[str], codec: Codec, read: ReadBatch,
                 pack: bool, force: bool, guard=None) -> list[tuple[str, int, int, int, int]]:
    """Write the archive (pack) or one .vz per input (encode_batch). Returns a row per file
    written: (label, bytes in, bytes out, images, images the guard coded near-lossless)."""
    files, flags = encode_batch(codec, guard, read.batch, pack)
    if pack:
        write_output(targets[0], files[0], force)
        return [(targets[0], sum(read.sizes), len(files[0]), len(sources), int(flags.sum()))]
    rows = []
    for i, (source, target, data) in enumerate(zip(sources, targets, files, strict=True)):
        write_output(target, data, force)
        rows.append((source.label, read.sizes[i], len(data), 1, int(flags[i])))
    return rows


# --- decoding -------------------------------------------------------------------------


class ModelCache:
    """The models that files name, loaded once each; a file naming a model that is not
    installed is a FormatError naming the file."""

    def __init__(self):
        self._models: dict = {}

    def get(self, vz: payload.VzFile, label: str):
        if vz.model not in self._models:
            try:
                self._models[vz.model] = load(vz.model)
            except UnknownModelError as exc:
                raise FormatError(f"{label}: made with model {vz.model!r}, which is not "
                                  f"installed ({exc})") from None
        return self._models[vz.model]


@dataclass(frozen=True)
class DecodeOptions:
    sample: bool = False  # a draw from the posterior, not its mean
    seed: int = 0  # of that draw
    native: bool = False  # the model's own 28x28 frame, white on black
    size: tuple[int, int] | None = None  # (width, height) instead of the original size


def decode_file(vz: payload.VzFile, label: str, options: DecodeOptions = DecodeOptions(),
                models: ModelCache | None = None, only: set[str] | None = None) -> list:
    """Every image of a .vz file as a Pillow image, in order; with only, the (name, image)
    pairs of just those members (the others are not run through the decoder)."""
    model = (models or ModelCache()).get(vz, label)
    decoded = for_file(vz, model).decode(vz, label)
    config = model.config
    placements = framing.given_back(config, vz.images)
    rows = range(len(vz)) if only is None else [
        i for i, p in enumerate(placements) if p.name in only]
    if isinstance(decoded, Pixels):
        if options.sample or options.size or options.native:
            raise OptionError(f"{label}: a {vz.mode} file decodes to "
                              f"{'its exact' if vz.mode == 'lossless' else '8-bit'} pixels; ",
                              Option("sample"), ", ", Option("size"), " and ",
                              Option("native"), " do not apply")
        images = [framing.exact_image(config, decoded.levels[i]) for i in rows]
    else:
        pixels = decode_latents(decoded, vz, model, options.sample, options.seed, rows)
        images = [render(config, pixels[k], placements[i], options.native, options.size)
                  for k, i in enumerate(rows)]
    if only is None:
        return images
    return [(placements[i].name, image) for i, image in zip(rows, images, strict=True)]


def decode_latents(latents: Latents, vz: payload.VzFile, model, sample: bool = False,
                   seed: int = 0, rows=None) -> np.ndarray:
    """The decoder's output for each image (or just the rows given): float32 [N, D]
    in [0, 1]. The posterior mean by default; with sample=True, a draw z ~ N(mu, sigma^2)
    (seeded; drawn for every image, so a row's draw does not depend on which rows run)."""
    z = latents.mu
    if sample:
        noise = np.random.default_rng(seed).standard_normal(z.shape, dtype=np.float32)
        z = z + latents.sigma * noise
    rows = list(range(len(z))) if rows is None else list(rows)
    digits = [vz.images[i].digit for i in rows] if model.config.conditional else None
    return model.decode(z[rows], digits)


def render(config, pixels: np.ndarray, placement, native: bool,
           size: tuple[int, int] | None):
    """One decoded image as the user gave it (or the model's frame with native, or at
    size)."""
    if native:
        image = framing.native_image(config, pixels)
        return image if size is None else image.resize(size)
    return framing.restore(config, pixels, placement, size=size)


def decoded_name(stored: str) -> str:
    """Where an archive entry goes inside the output directory: its name, as PNG."""
    path = PurePosixPath(stored)
    return str(path.with_suffix(".png")) if path.suffix.lower() != ".png" else stored


def output_format(target: str) -> str:
    """Pillow's format for an output path, by its suffix (PNG by default)."""
    suffix = Path(target).suffix.lower()
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF", ".gif": "GIF"}.get(suffix, "PNG")


def decode_to_files(vz: payload.VzFile, label: str, targets: list[str],
                    options: DecodeOptions, models: ModelCache, force: bool) -> None:
    """Decode one .vz and write its images to targets (one per image; '-' is stdout)."""
    for target, image in zip(targets, decode_file(vz, label, options, models), strict=True):
        write_output(target, image_bytes(image, output_format(target)), force)


__all__ = ["STDIO", "EncodeOptions", "DecodeOptions", "ModelCache", "read_batch",
           "encode_batch", "encode_files", "decode_file", "decode_to_files", "decoded_name",
           "check_digit"]
