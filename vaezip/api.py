"""The Python API: compress and decompress in memory, as zstandard's compress/decompress.

    import vaezip
    data = vaezip.compress(image)              # one image -> the bytes of a .vz file
    image = vaezip.decompress(data)            # -> PIL.Image.Image, at its original size
    archive = vaezip.compress([a, b, c])       # a list -> one archive
    members = vaezip.decompress(archive)       # -> [(name, PIL.Image.Image), ...]
    model = vaezip.load_model("mnist-vae-16d") # encode / decode / sample on NumPy arrays

Images may be PIL images, NumPy arrays (H x W or H x W x C; uint8, uint16, bool, or float
in [0, 1]), paths, or the bytes of an encoded image file. The same functions run the
CLI's `encode` and `decode`, so the bytes are the same as the files it writes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

from vaezip.errors import VaezipWarning
from vaezip.models.runtime import Model

ImageLike = object  # PIL.Image.Image | numpy.ndarray | str | os.PathLike | bytes


def _is_single(images) -> bool:
    """One image, or an iterable of them? Bytes, paths, arrays and PIL images are one."""
    return (isinstance(images, str | bytes | bytearray | memoryview | os.PathLike)
            or hasattr(images, "__array_interface__") or hasattr(images, "getbands")
            or not isinstance(images, Iterable))


def compress(images, *, model: str | None = None, quality: int | None = None,
             lossless: bool = False, float_latents: bool = False,
             digit: int | None = None, max_error: int | None = None,
             guard: bool = True) -> bytes:
    """Compress one image into a single-image .vz, or a list (any iterable) of images
    into a .vz archive, and return the file's bytes.

    model: a registry name (default: mnist-bvae-32d; mnist-vae-lossless-16g-m5-60e when
    lossless or near-lossless).
    quality: 1 (smallest) to 8 (most faithful) for coded files; default 2.
    lossless: every pixel back exactly; takes 28x28 8-bit grayscale images only.
    max_error: near-lossless, every pixel back within this many levels (1-16); takes
    28x28 8-bit grayscale images only.
    float_latents: store mu and sigma as float16 instead of coding them.
    digit: the digit the images show, for a conditional model (mnist-cvae-8d).
    guard: let the identity guard code a digit near-lossless (every pixel within 16
    levels) where its lossy decoding may read as another digit (the default model's ~4%).
    Raises vaezip.errors.ImageError for an image it cannot use, OptionError for options
    that exclude each other, UnknownModelError for a model that is not installed. Warns
    (vaezip.errors.VaezipWarning) about inputs that are blank or do not look like digits.
    """
    from vaezip.frames.sources import api_sources
    from vaezip.pipeline import EncodeOptions, read_batch

    single = _is_single(images)
    sources = api_sources(images, single)
    if not sources:
        raise ValueError("compress needs at least one image")
    options = EncodeOptions(model=model, quality=quality, lossless=lossless,
                            float_latents=float_latents, digit=digit, max_error=max_error,
                            guard=guard)
    codec = options.codec()
    read = read_batch(sources, codec, digit)
    for message in read.warnings:
        warnings.warn(message, VaezipWarning, stacklevel=2)
    if codec.mode == "float":  # float latents: the version 1-2 layout
        return codec.file_bytes(read.batch, packed=not single)
    plan = options.guard_plan(codec)
    if single:
        from vaezip.codecs.guard import guarded_single_files

        return guarded_single_files(codec, plan, read.batch)[0][0]
    from vaezip.format.archive import batch_archive

    return batch_archive(codec, read.batch, plan)


def decompress(data: bytes, *, sample: bool = False, seed: int = 0, native: bool = False):
    """The images of a .vz file. A single-image file gives a PIL.Image.Image; an archive
    gives an ordered list of (name, PIL.Image.Image), name being each member's stored path.

    Images come back at their original size, polarity and mode (native=True: the model's
    own 28x28 frame, white on black). sample=True decodes a seeded draw from the
    posterior instead of its mean. Raises vaezip.errors.FormatError for data that is not a
    valid .vz file, or that needs a model which is not installed.
    """
    from vaezip.format import container
    from vaezip.pipeline import DecodeOptions, decode_file

    options = DecodeOptions(sample=sample, seed=seed, native=native)
    data = bytes(data)
    if container.is_framed_bytes(data):
        from vaezip.archives import decode_archive

        return decode_archive(data, "<data>", options)
    vz = container.loads(data, "<data>")
    images = decode_file(vz, "<data>", options)
    if vz.packed:
        return [(p.name, image) for p, image in zip(vz.images, images, strict=True)]
    return images[0]


def load_model(name: str) -> Model:
    """A registry model (shipped or trained with `vaezip train`), its weights checked
    against their hash: encode, decode and sample on NumPy arrays (no torch)."""
    from vaezip.models.runtime import load

    return load(name)
