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

from vaezip.codec import VzFile, check_name
from vaezip.errors import FormatError, ImageError, UnknownModelError, UsageError
from vaezip.imaging import Prepared, native_image, prepare, restore

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


def load_model_for(vz: VzFile, label: str, cache: dict):
    """The installed model a .vz was made with, refusing a different version of it."""
    from vaezip.registry import find, load_inference

    if vz.model not in cache:
        try:
            entry = find(vz.model)
        except UnknownModelError as exc:
            raise FormatError(f"{label}: made with model {vz.model!r}, which is not "
                              f"installed ({exc})") from None
        if not entry.sha256.startswith(vz.model_hash):
            raise FormatError(
                f"{label}: made with a different version of {vz.model!r} (weights "
                f"{vz.model_hash}, installed {entry.sha256[:len(vz.model_hash)]}); decode it "
                f"with the vaezip that made it"
            )
        cache[vz.model] = load_inference(entry)
    model, entry = cache[vz.model]
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
