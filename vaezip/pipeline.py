"""The data flow behind encode and decode: which files, which outputs, and the model pass.

image files -> imaging.prepare -> encoder -> (mu, sigma) -> codec.dumps -> .vz
.vz -> codec.loads -> (mu or a draw) -> decoder -> imaging.restore -> image files
Library code: raises VaezipError subclasses, never prints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np

from vaezip.codec import HASH_CHARS, MODE_LOSSLESS, VzFile, check_name
from vaezip.errors import FormatError, ImageError, UnknownModelError, UsageError
from vaezip.imaging import SIDE, Prepared, native_image, prepare, restore

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm",
                  ".ppm", ".pbm", ".pnm", ".tga", ".ico"}
STDIO = "-"


@dataclass
class Source:
    """One input: where to read it, the name it is stored under, and how to call it."""

    path: Path | None  # None: standard input
    name: str  # stored name: the base name, or the path inside a directory that was walked
    label: str  # for messages

    def read(self) -> bytes:
        if self.path is None:
            return sys.stdin.buffer.read()
        try:
            return self.path.read_bytes()
        except IsADirectoryError:
            raise ImageError(f"{self.label}: is a directory") from None
        except OSError as exc:
            raise ImageError(f"{self.label}: cannot read ({exc.strerror or exc})") from None


def collect_sources(inputs: list[str], suffixes: set[str] | None = None) -> list[Source]:
    """Expand files, directories (recursively, image files only) and '-' into sources."""
    if not inputs:
        raise UsageError("no input given")
    if inputs.count(STDIO) > 1:
        raise UsageError("standard input ('-') can be given only once")
    suffixes = suffixes or IMAGE_SUFFIXES
    sources: list[Source] = []
    for arg in inputs:
        if arg == STDIO:
            sources.append(Source(None, "stdin", "<stdin>"))
            continue
        path = Path(arg)
        if path.is_dir():
            found = sorted((p for p in path.rglob("*") if p.suffix.lower() in suffixes
                            and p.is_file()), key=str)
            if not found:
                kinds = "image" if suffixes is IMAGE_SUFFIXES else "/".join(sorted(suffixes))
                raise ImageError(f"{arg}: directory holds no {kinds} files")
            sources += [Source(p, p.relative_to(path).as_posix(), str(p)) for p in found]
        elif path.exists():  # a file named on the command line is known by its base name
            sources.append(Source(path, path.name, str(path)))
        else:
            raise ImageError(f"{arg}: no such file or directory")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"two inputs would be stored as {dup!r}; encode them separately")
    for s in sources:
        check_name(s.name, s.label)
    return sources


def prepare_all(sources: list[Source], on_item: Callable[[], None] | None = None
                ) -> tuple[list[Prepared], list[int], list[str], list[str]]:
    """Read every input into model space. Returns (prepared, input sizes in bytes, warnings,
    errors): all inputs are tried, so one run reports every bad file; callers write
    nothing if any failed."""
    prepared, sizes, warnings, errors = [], [], [], []
    for source in sources:
        try:
            data = source.read()
            item = prepare(data, source.name, label=source.label)
            prepared.append(item)
            sizes.append(len(data))
            warnings += item.warnings
        except ImageError as exc:
            errors.append(str(exc))
        if on_item:
            on_item()
    return prepared, sizes, warnings, errors


def encode_prepared(prepared: list[Prepared], model, entry, packed: bool,
                    digit: int | None = None, batch_size: int = 4096) -> VzFile:
    """Run the encoder (inference.NumpyModel) over prepared images: mu and sigma each.
    A conditional model encodes given the digit, which is stored with each image."""
    pixels = np.stack([p.pixels.reshape(-1) for p in prepared])  # [N, D]
    labels = None if digit is None else np.full(len(pixels), digit)
    codes = [model.encode(pixels[start : start + batch_size],  # ([B, K], [B, K])
                          None if labels is None else labels[start : start + batch_size])
             for start in range(0, len(pixels), batch_size)]
    return VzFile(
        model=entry.name, model_hash=entry.sha256,
        mu=np.concatenate([mu for mu, _ in codes]),
        sigma=np.concatenate([sigma for _, sigma in codes]),
        images=[replace(p.placement, digit=digit) for p in prepared], packed=packed,
    )


def grid_for(entry, quality: int):
    """The quantisation grid of a model at a --quality; UsageError if it has no entropy
    model (the autoencoder, or models trained before coded .vz files)."""
    from vaezip import entropy

    units = entry.codec.get("sigma_units")
    if not units:
        raise UsageError(f"model {entry.name!r} has no entropy model for coded .vz files; "
                         f"use --float")
    if len(units) != entry.config.latent_dim:
        raise FormatError(f"model {entry.name!r}: codec sigma_units has {len(units)} dims, "
                          f"the model {entry.config.latent_dim}")
    if quality not in entropy.QUALITY_STEPS:
        raise UsageError(f"--quality must be {min(entropy.QUALITY_STEPS)}-"
                         f"{max(entropy.QUALITY_STEPS)}, not {quality}")
    return entropy.make_grid(units, quality)


def _grid_bytes(grid) -> bytes:
    return np.array(grid.dims + grid.steps, dtype="<u4").tobytes()


def dumps_coded(vz: VzFile, entry, quality: int) -> bytes:
    """vz's latents quantised on the model's grid and entropy-coded: a version-3 file."""
    from vaezip import codec, entropy

    grid = grid_for(entry, quality)
    stream = entropy.encode_indices(entropy.quantise(vz.mu, grid), grid)
    return codec.dumps_coded(entry.name, entry.sha256, _grid_bytes(grid), quality, vz.images,
                             vz.packed, stream)


def lossless_capable(config) -> bool:
    """Whether a model can code pixels exactly: it needs the 256-level likelihood."""
    return config.likelihood == "logistic" and not config.conditional


def read_exact_pixels(sources: list[Source]) -> tuple[np.ndarray, list[str]]:
    """For --lossless: each input's 8-bit gray pixels as they are (uint8 [N, 784]), and
    errors for inputs that are not 28x28 8-bit grayscale (nothing else round-trips)."""
    from vaezip.imaging import open_image

    rows, errors = [], []
    for source in sources:
        try:
            image, _ = open_image(source.read(), source.label)
            if image.mode == "1":  # bilevel: 0/255 in L, exactly
                image = image.convert("L")
            if image.mode != "L" or image.size != (SIDE, SIDE):
                raise ImageError(
                    f"{source.label}: --lossless takes 28x28 8-bit grayscale images (mode L); "
                    f"this is {image.size[0]}x{image.size[1]} {image.mode}")
            rows.append(np.asarray(image, dtype=np.uint8).reshape(-1))
        except ImageError as exc:
            errors.append(str(exc))
    return (np.stack(rows) if rows else np.zeros((0, SIDE**2), np.uint8)), errors


def exact_image(row: np.ndarray):
    """A lossless file's pixels as the 28x28 8-bit gray image they were."""
    from PIL import Image

    return Image.fromarray(row.reshape(SIDE, SIDE), mode="L")


def dumps_lossless(pixels: np.ndarray, names: list[str], model, entry, packed: bool) -> bytes:
    """Bits-back coded pixels (lossless.py) in a version-3 file; the checksum covers the
    pixels themselves, so a stream that decodes to anything else is refused."""
    from vaezip import codec, lossless
    from vaezip.imaging import Placement

    stream = lossless.encode(model, pixels)
    images = [Placement(name=n) for n in names]
    return codec.dumps_coded(entry.name, entry.sha256, pixels.tobytes(), 0, images, packed,
                             stream, mode=codec.MODE_LOSSLESS)


def _resolve_lossless(vz: VzFile, model, entry, label: str) -> None:
    from vaezip import lossless

    if not lossless_capable(entry.config):
        raise FormatError(f"{label}: lossless file, but model {vz.model!r} has no 8-bit "
                          f"likelihood")
    for p in vz.images:
        if (p.width, p.height, p.mode, p.box, p.digit) != (SIDE, SIDE, "L", None, None):
            raise FormatError(f"{label}: lossless images must be plain 28x28 gray records")
    try:
        pixels = lossless.decode(model, vz.coded.stream, len(vz), entry.config.input_dim)
    except FormatError as exc:
        raise FormatError(f"{label}: {exc}") from None
    if vz.coded.expected_checksum(entry.sha256[:HASH_CHARS], pixels.tobytes()) != (
            vz.coded.checksum):
        raise FormatError(
            f"{label}: pixel checksum mismatch: the lossless data is damaged, or was made "
            f"with a different version of model {vz.model!r} (or on a machine whose "
            f"arithmetic differs)")
    vz.pixels = pixels
    vz.model_hash = entry.sha256[:HASH_CHARS]


def _resolve_coded(vz: VzFile, entry, label: str) -> None:
    """Fill in mu and sigma of a coded file, after checking its checksum: an ANS stream
    that was damaged, or read with another version of the model, decodes silently into
    different latents otherwise."""
    from vaezip import entropy

    try:
        grid = grid_for(entry, vz.coded.quality)
    except UsageError as exc:
        raise FormatError(f"{label}: {exc}") from None
    expected = vz.coded.expected_checksum(entry.sha256[:HASH_CHARS], _grid_bytes(grid))
    if expected != vz.coded.checksum:
        raise FormatError(
            f"{label}: checksum mismatch: the coded data is damaged, or was made with a "
            f"different version of model {vz.model!r} than the one installed"
        )
    index = entropy.decode_indices(vz.coded.stream, grid, len(vz))
    vz.mu, vz.sigma = entropy.dequantise(index, grid, entry.config.latent_dim,
                                         entry.codec["sigma_units"])
    vz.model_hash = entry.sha256[:HASH_CHARS]


def load_model_for(vz: VzFile, label: str, cache: dict):
    """The installed model a .vz was made with, refusing a different version of it. A
    coded file's latents are decoded here (they need the model's entropy model)."""
    from vaezip.registry import find, load_inference

    if vz.model not in cache:
        try:
            entry = find(vz.model)
        except UnknownModelError as exc:
            raise FormatError(f"{label}: made with model {vz.model!r}, which is not "
                              f"installed ({exc})") from None
        cache[vz.model] = load_inference(entry)
    model, entry = cache[vz.model]
    if vz.coded is not None and vz.coded.mode == MODE_LOSSLESS and vz.pixels is None:
        _resolve_lossless(vz, model, entry, label)
        return model
    if vz.coded is not None and vz.mu is None:
        _resolve_coded(vz, entry, label)
    elif not entry.sha256.startswith(vz.model_hash):
        raise FormatError(
            f"{label}: made with a different version of {vz.model!r} (weights "
            f"{vz.model_hash}, installed {entry.sha256[:len(vz.model_hash)]}); decode it "
            f"with the vaezip that made it"
        )
    if vz.mu.shape[1] != entry.config.latent_dim:
        raise FormatError(f"{label}: latents have {vz.mu.shape[1]} dims, model {vz.model!r} "
                          f"has {entry.config.latent_dim}")
    digits = [p.digit for p in vz.images]
    if entry.config.conditional and (None in digits
                                     or max(digits) >= entry.config.classes):
        raise FormatError(f"{label}: model {vz.model!r} is conditional, but the file lacks "
                          f"a digit (0-{entry.config.classes - 1}) for every image")
    if not entry.config.conditional and any(d is not None for d in digits):
        raise FormatError(f"{label}: images carry digits, but {vz.model!r} is not conditional")
    return model


def decode_latents(vz: VzFile, model, sample: bool = False, seed: int = 0,
                   batch_size: int = 4096) -> np.ndarray:
    """The decoder's output for each image: float32 [N, 28, 28] in [0, 1].

    The posterior mean by default; with sample=True, a draw z ~ N(mu, sigma^2) (seeded).
    """
    z = vz.mu
    if sample:
        noise = np.random.default_rng(seed).standard_normal(z.shape, dtype=np.float32)
        z = z + vz.sigma * noise
    labels = (np.array([p.digit for p in vz.images]) if model.config.conditional else None)
    out = [model.decode(z[start : start + batch_size],
                        None if labels is None else labels[start : start + batch_size])
           for start in range(0, len(z), batch_size)]
    side = model.config.image_side
    return np.concatenate(out).reshape(-1, side, side)


def render(pixels: np.ndarray, vz: VzFile, index: int, native: bool,
           size: tuple[int, int] | None):
    """One decoded image as the user gave it (or 28x28 with native, or at size)."""
    if native:
        image = native_image(pixels)
        return image if size is None else image.resize(size)
    return restore(pixels, vz.images[index], size=size)


def decoded_name(stored: str) -> str:
    """Where an archive entry goes inside the output directory: its name, as PNG."""
    path = PurePosixPath(stored)
    return str(path.with_suffix(".png")) if path.suffix.lower() != ".png" else stored
