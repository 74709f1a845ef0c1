"""The Python API: compress and decompress in memory, as zstandard's compress/decompress.

    import vaezip
    data = vaezip.compress(image)              # one image -> the bytes of a .vz file
    image = vaezip.decompress(data)            # -> PIL.Image.Image, at its original size
    archive = vaezip.compress([a, b, c])       # a list -> one archive
    with vaezip.open(archive) as reader:       # or a path: members decoded on demand
        first = reader[0]                      # reader["name"], len(reader), reader.names
        for name, image in reader: ...         # in order, a frame at a time
    fast = vaezip.Compressor(quality=1)        # the model loaded once, for a tight loop
    model = vaezip.load_model("mnist-vae-16d") # encode / decode / sample on NumPy arrays

Images may be PIL images, NumPy arrays (H x W or H x W x C; uint8, uint16, bool, or float
in [0, 1]), paths, or the bytes of an encoded image file. The same functions run the
CLI's `encode` and `decode`, so the bytes are the same as the files it writes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

from vaezip.errors import FormatError, VaezipWarning
from vaezip.frames.sources import api_sources
from vaezip.models.runtime import Model, load
from vaezip.pipeline import EncodeOptions, encode_batch, read_batch
from vaezip.reader import Reader

ImageLike = object  # PIL.Image.Image | numpy.ndarray | str | os.PathLike | bytes


def _is_single(images) -> bool:
    """One image, or an iterable of them? Bytes, paths, arrays and PIL images are one."""
    return (isinstance(images, str | bytes | bytearray | memoryview | os.PathLike)
            or hasattr(images, "__array_interface__") or hasattr(images, "getbands")
            or not isinstance(images, Iterable))


class Compressor:
    """Reusable compression settings, as zstandard's ZstdCompressor: the model, its codec
    and the identity guard are loaded once, then compress() runs as often as you like.

    model: a registry name (default: mnist-bvae-32d; mnist-vae-lossless-local when
    lossless, mnist-vae-lossless-16g-m5-60e when near-lossless).
    quality: 1 (smallest) to 8 (most faithful) for coded files; default 2.
    lossless: every pixel back exactly; takes images exactly in the model's frame.
    max_error: near-lossless, every pixel back within this many levels (1-16); takes
    images exactly in the model's frame.
    visible: with max_error and a model whose frame has alpha, bound what is seen: alpha
    within max_error, and colour within it once weighted by opacity (colour under a
    transparent pixel is not kept, as WebP's default). Smaller files of icons.
    float_latents: store mu and sigma as float16 instead of coding them.
    digit: the digit the images show, for a conditional model (mnist-cvae-8d).
    guard: let the identity guard code a digit near-lossless (every pixel within 16
    levels) where its lossy decoding may read as another digit (the default model's ~4%).
    Raises OptionError for options that exclude each other, UnknownModelError for a model
    that is not installed.
    """

    def __init__(self, *, model: str | None = None, quality: int | None = None,
                 lossless: bool = False, float_latents: bool = False,
                 digit: int | None = None, max_error: int | None = None,
                 visible: bool = False, guard: bool = True):
        self.options = EncodeOptions(model=model, quality=quality, lossless=lossless,
                                     float_latents=float_latents, digit=digit,
                                     max_error=max_error, visible=visible, guard=guard)
        self.codec = self.options.codec()
        self.guard = self.options.guard_plan(self.codec)

    def compress(self, images) -> bytes:
        """One image into a single-image .vz, or a list (any iterable) of images into a .vz
        archive: the file's bytes, as `vaezip encode` (with --pack for a list) writes them.

        Images: PIL images, NumPy arrays (H x W or H x W x C; uint8, uint16, bool, or float
        in [0, 1]), paths, or the bytes of an encoded image file. Raises ImageError for an
        image it cannot use; warns (VaezipWarning) about inputs that are blank or unlike
        the model's training images."""
        single = _is_single(images)
        sources = api_sources(images, single)
        if not sources:
            raise ValueError("compress needs at least one image")
        read = read_batch(sources, self.codec, self.options.digit)
        for message in read.warnings:
            warnings.warn(message, VaezipWarning, stacklevel=2)
        return encode_batch(self.codec, self.guard, read.batch, packed=not single)[0][0]


def compress(images, **options) -> bytes:
    """Compressor(**options).compress(images): see Compressor for the options."""
    return Compressor(**options).compress(images)


def open(source, *, sample: bool = False, seed: int = 0, native: bool = False) -> Reader:  # noqa: A001
    """A reader over a .vz file's members (a path, bytes, or a binary stream): len(),
    .names, reader[i] or reader["name"] decoding only the frame that holds it, iteration
    over (name, PIL image) pairs, and `with`. sample=True decodes seeded draws from the
    posterior instead of its mean; native=True gives the model's own 28x28 frame."""
    return Reader(source, sample=sample, seed=seed, native=native)


def decompress(data: bytes, *, sample: bool = False, seed: int = 0, native: bool = False):
    """The one image of a .vz file's bytes, as a PIL.Image.Image at its original size,
    polarity and mode (native=True: the model's own 28x28 frame, white on black).
    sample=True decodes a seeded draw from the posterior instead of its mean. An archive
    of several images is refused: vaezip.open(data) reads its members. Raises
    vaezip.errors.FormatError for data that is not a valid .vz file, or that needs a model
    which is not installed."""
    with Reader(bytes(data), sample=sample, seed=seed, native=native) as reader:
        if len(reader) != 1:
            raise FormatError(f"<data>: an archive of {len(reader)} images; "
                              f"vaezip.open(data) reads its members")
        return reader[0]


def load_model(name: str) -> Model:
    """A registry model (shipped or trained with `vaezip train`), its weights checked
    against their hash: encode, decode and sample on NumPy arrays (no torch)."""
    return load(name)
