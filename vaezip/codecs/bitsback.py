"""Lossless coding of 8-bit images with a VAE: bits-back with ANS (BB-ANS, Townsend,
Bird & Barber 2019), on constriction's stack coder. numpy + constriction, no torch.

Per image, the encoder
  1. pops z from the posterior q(z | x), discretised into bins of width 1/Z_BINS:
     this *reads* bits off the stack (the "bits back");
  2. pushes the pixels under p(x | z), the decoder's 256-level logistic mixture (a group
     decoder's p(x_g | z, x_<g): the last group first, so the decoder pops group 0 first
     and has the groups before each one when it computes its probabilities);
  3. pushes z under the prior N(0, I) on the same bins.
The net cost is -log p(x | z) - log p(z) + log q(z | x): the negative ELBO, plus a little
for the discretisation and the coder. The decoder runs the steps backwards: pop z under
the prior, pop x under p(x | z), push z back under q(z | x), which gives back the bits
the encoder borrowed. Images go in chunks, so the networks run on batches; a chunk's
pops must find enough bits on the stack, so chunks grow from 1 image (which borrows
from a small fixed seed of pseudo-random words) to CHUNK.

ExactStep writes the three steps once, as a push/pop pair; encode_exact (a chunked batch on
one stack), encode_exact_each (one stack per image) and decode_exact drive it.

Both sides must compute bit-identical probabilities. encode_exact/decode_exact take them
from exact.ExactModel (integers and integer tables: the same on every machine), and write
the current lossless format. decode takes them from the float network (numpy_nets.NumpyModel):
deterministic on one machine only, since a machine whose BLAS or exp rounds differently
computes other probabilities. It remains to read format-3 lossless files, and the pixel
checksum refuses what it cannot decode.
"""

from __future__ import annotations

import numpy as np

from vaezip.codecs.exact import Z_RANGE, prior_masses
from vaezip.errors import FormatError
from vaezip.models.config import LEVELS

Z_BINS = 256  # bins per unit of z: fine against posterior widths of ~0.05-1
Z_LIMIT = 8 * Z_BINS  # z in [-8, 8]
CHUNK = 64  # images per network batch once the stack is full enough
EXACT_GROWTH = 2  # chunk growth of the exact coder (see chunks)
SEED_WORDS = 16  # 64 bytes the first pops read from; the untouched ones are not stored


def seed_words() -> np.ndarray:
    return np.random.default_rng(20190101).integers(0, 2**32, SEED_WORDS, dtype=np.uint32)


def chunks(n: int, growth: int = 4) -> list[tuple[int, int]]:
    """[start, stop) of each chunk: 1 image, then growing by `growth` up to CHUNK: every
    chunk must pop fewer bits (the posterior's, about 7-12 bits per latent dim) than the
    chunks before it pushed (~1,000 per image), or its pops read an empty stack and draw
    poor samples. The exact coder grows by 2; format-3 files grew by 4 and keep doing so."""
    out, start, size = [], 0, 1
    while start < n:
        stop = min(n, start + size)
        out.append((start, stop))
        start, size = stop, min(CHUNK, size * growth)
    return out


def _models():
    import constriction

    gaussian = constriction.stream.model.QuantizedGaussian(-Z_LIMIT, Z_LIMIT)
    prior = constriction.stream.model.QuantizedGaussian(-Z_LIMIT, Z_LIMIT, 0.0, float(Z_BINS))
    pixels = constriction.stream.model.Categorical(perfect=False)
    return gaussian, prior, pixels


def _posterior(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and std in bin units, float64 [n * K], for uint8 pixels x [n, D]."""
    mu, sigma = model.encode(x.astype(np.float32) / 255)
    return (mu.astype(np.float64) * Z_BINS).ravel(), np.maximum(
        sigma.astype(np.float64) * Z_BINS, 1e-3).ravel()


def _pmf(model, z_bins: np.ndarray, n: int) -> np.ndarray:
    return model.pixel_pmf((z_bins.reshape(n, -1) / Z_BINS).astype(np.float32))


def _strip_seed(words: np.ndarray, seed: np.ndarray) -> bytes:
    """The bottom of the stack still holds the seed words no pop reached: known to the
    decoder, so not stored; one byte says how many to put back."""
    kept = 0
    while kept < min(SEED_WORDS, len(words)) and words[kept] == seed[kept]:
        kept += 1
    return bytes([kept]) + words[kept:].astype("<u4").tobytes()


def _stack(data: bytes) -> np.ndarray:
    if not data or data[0] > SEED_WORDS or (len(data) - 1) % 4:
        raise FormatError("lossless stream is damaged (bad length or seed count)")
    words = np.concatenate([seed_words()[: data[0]], np.frombuffer(data[1:], dtype="<u4")])
    return words.astype(np.uint32)


def level_bins(max_error: int) -> tuple[np.ndarray, np.ndarray]:
    """Near-lossless bins of the 256 levels: (the first level of each bin, the level each
    bin decodes to). Bin b holds the levels within max_error of b (2 max_error + 1), so
    every level decodes within max_error of itself; max_error 0: one level per bin."""
    width = 2 * max_error + 1
    centres = np.arange(0, LEVELS + max_error, width)  # [B]
    starts = np.maximum(centres - max_error, 0)
    return starts, np.minimum(centres, LEVELS - 1).astype(np.uint8)


def _all_masses(model, z_index: np.ndarray, levels: np.ndarray, starts: np.ndarray):
    """For an encoder, which has every level: the pixel groups in coding order, and each
    group's bin masses [n * |g|, B] (as _group_masses gives them one by one)."""
    if model.config.groups and len(starts) < LEVELS:  # bins: every group's in one pass
        return model.pixel_groups, model.all_group_masses(model.trunk(z_index), levels, starts)
    # 256 masses a pixel: a group at a time stays in cache (faster)
    groups, masses = _group_masses(model, z_index, starts)
    return groups, [masses(g, levels) for g in range(len(groups))]


def _group_masses(model, z_index: np.ndarray, starts: np.ndarray):
    """The pixel groups of a chunk's images in coding order (one group of every pixel for
    a plain decoder), and a function (g, levels [n, D]) -> group g's bin masses [P, B]
    (level masses where the bins are the 256 levels), given the levels of the groups before
    it (exact.ExactModel.group_masses). A bin's mass is the sum of its levels' integer
    masses, below 2^24: exact in float32."""
    if not model.config.groups:
        masses = model.pixel_masses(z_index, starts)
        return [slice(None)], lambda g, levels: masses
    h = model.trunk(z_index)  # [n, W]
    return model.pixel_groups, lambda g, levels: model.group_masses(g, h, levels, starts)


def _bins(model, pixels: np.ndarray, max_error: int, visible: bool = False):
    """(bin starts, each pixel's bin [N, D], the image the bins decode to [N, D]).
    visible: colour is bound as seen (choose_visible_bins), not level by level."""
    starts, decoded = level_bins(max_error)
    if not max_error:
        return starts, pixels, pixels
    bins = np.searchsorted(starts, pixels, side="right") - 1
    if visible:
        for first in range(0, len(pixels), VISIBLE_BATCH):
            part = slice(first, first + VISIBLE_BATCH)
            bins[part] = choose_visible_bins(model, pixels[part], bins[part], max_error)
    return starts, bins, decoded[bins]


VISIBLE_BATCH = 256  # images whose bins choose_visible_bins weighs at once
# Passes of choose_visible_bins: z from the image the pass before chose (the second saves
# 0.6% on the Oxygen icons at N = 16; a third, nothing).
VISIBLE_PASSES = 2


def choose_visible_bins(model, pixels: np.ndarray, bins: np.ndarray, max_error: int):
    """Near-lossless bins [n, D] bound on what is seen, for a frame with alpha (its last
    channel): alpha keeps its bin (within N), and a colour subpixel may take any bin whose
    level d has a' |d - v| <= 255 N at its pixel's decoded opacity a' (so any bin under a
    pixel that decodes fully transparent). Of those, it takes the one the model finds
    likeliest, group by group in coding order, given the groups chosen before, under z at
    the posterior's mode. The encoder's choice alone: the decoder is the same as ever.
    (WebP drops colour under transparent pixels by default too; `cwebp -exact` keeps it.)"""
    c = model.config
    starts, decoded = level_bins(max_error)
    plane, alpha = c.height * c.width, c.channels - 1
    levels = decoded.astype(np.int64)
    opacity = decoded[bins[:, alpha * plane : (alpha + 1) * plane]].astype(np.int64)
    chosen = bins  # pass 1's z: the posterior mode of the plain bins' image
    for _ in range(VISIBLE_PASSES):
        posterior = model.posterior_masses(decoded[chosen])
        z = posterior.reshape(len(pixels) * c.latent_dim, -1).argmax(axis=1) - Z_RANGE
        groups, masses = _group_masses(model, z.reshape(len(pixels), -1), starts)
        chosen = bins.copy()
        shown = decoded[chosen]
        for g, group in enumerate(groups):
            group = np.arange(pixels.shape[1])[group]
            colour = group // plane != alpha
            if not colour.any():
                continue
            mass = masses(g, shown).reshape(len(pixels), len(group), -1)[:, colour]
            where = group[colour]  # [P]; mass [n, P, B]
            allowed = (opacity[:, where % plane, None]
                       * np.abs(levels - pixels[:, where, None].astype(np.int64))
                       <= 255 * max_error)
            chosen[:, where] = np.where(allowed, mass, -1).argmax(axis=2)
            shown[:, where] = decoded[chosen[:, where]]
    return chosen


class ExactStep:
    """One bits-back step with exact.ExactModel's integer probabilities, written once as a
    push/pop pair (craystack's shape): push codes a batch of images onto their coders'
    stacks, pop takes them off again, each the other's inverse. The batch, per-image and
    decoding loops below only say which images go onto which stack.

    max_error > 0 (near-lossless): the pixels coded are level bins (level_bins), and z's
    bits come back under q(z | the decoded image), which the decoder can compute."""

    def __init__(self, model, max_error: int = 0):
        import constriction

        self.model, self.max_error, self.offset = model, max_error, Z_RANGE
        self.pixels = constriction.stream.model.Categorical(perfect=False)
        self.prior = constriction.stream.model.Categorical(prior_masses(), perfect=False)
        self.starts, self.decoded = level_bins(max_error)

    def push(self, coders: list, bins: np.ndarray, shown: np.ndarray) -> None:
        """Code images onto coders, an equal share each, in order: bins [n, D] (the
        levels, or their bins), shown [n, D] (the image the bins decode to)."""
        model, k, share = self.model, self.model.config.latent_dim, len(bins) // len(coders)
        posterior = model.posterior_masses(shown).reshape(len(coders), share * k, -1)
        # 1. pop z under the posterior: the bits back
        z = np.concatenate([c.decode(self.pixels, posterior[i]) for i, c in enumerate(coders)])
        groups, masses = _all_masses(model, z.reshape(len(bins), k).astype(np.int64)
                                     - self.offset, shown, self.starts)
        # 2. push the pixels, the last group first: the decoder pops them first to last
        for g in reversed(range(len(groups))):
            rows = masses[g].reshape(len(coders), -1, masses[g].shape[-1])
            for i, coder in enumerate(coders):
                mine = bins[i * share : (i + 1) * share, groups[g]]
                coder.encode_reverse(mine.ravel().astype(np.int32), self.pixels, rows[i])
        # 3. push z under the prior
        for i, coder in enumerate(coders):
            coder.encode_reverse(z[i * share * k : (i + 1) * share * k], self.prior)

    def pop(self, coder, out: np.ndarray) -> None:
        """The inverse of push onto one coder: fills out [n, D] with the decoded levels."""
        n, k = len(out), self.model.config.latent_dim
        z = coder.decode(self.prior, n * k)  # 3.
        groups, masses = _group_masses(self.model, z.reshape(n, k).astype(np.int64)
                                       - self.offset, self.starts)
        for g, pixels in enumerate(groups):  # 2.
            x = coder.decode(self.pixels, masses(g, out))
            if x.min() < 0 or x.max() >= len(self.starts):
                raise FormatError("lossless stream is damaged (pixel out of range)")
            out[:, pixels] = self.decoded[x].reshape(n, -1)
        coder.encode_reverse(z, self.pixels, self.model.posterior_masses(out))  # 1.


def _new_coder(words: np.ndarray):
    import constriction

    return constriction.stream.stack.AnsCoder(words.copy())


def encode_exact(model, pixels: np.ndarray, max_error: int = 0, visible: bool = False) -> bytes:
    """uint8 [N, D] -> the coded stream: every image on one stack, in chunks that grow
    (chunks) so that each chunk's pops find the bits it borrows. visible: near-lossless
    bins bound on what is seen (choose_visible_bins)."""
    step, seed = ExactStep(model, max_error), seed_words()
    _, bins, shown = _bins(model, pixels, max_error, visible)
    coder = _new_coder(seed)
    for start, stop in chunks(len(pixels), EXACT_GROWTH):
        step.push([coder], bins[start:stop], shown[start:stop])
    return _strip_seed(coder.get_compressed(), seed)


# encode_exact_each runs the networks on this many level masses at once (64 MB of float32):
# ~1,300 images of a 16-group model, ~80 of a plain one.
EACH_MASSES = 1 << 24


def encode_exact_each(model, pixels: np.ndarray, max_error: int = 0,
                      visible: bool = False) -> list[bytes]:
    """encode_exact of each image alone (one single-image file each), the same bytes, but
    with the networks run on many images at once: a one-image stream is a single chunk
    that starts from the seed, so its z depends on its own image only, and each network
    pass (which reads every weight, whatever the batch) serves a whole batch of files."""
    step, seed, out = ExactStep(model, max_error), seed_words(), []
    largest = max(len(g) for g in model.pixel_groups) if model.config.groups else pixels.shape[1]
    size = max(1, EACH_MASSES // (largest * LEVELS))
    for first in range(0, len(pixels), size):
        _, bins, shown = _bins(model, pixels[first : first + size], max_error, visible)
        coders = [_new_coder(seed) for _ in range(len(bins))]
        step.push(coders, bins, shown)
        out += [_strip_seed(coder.get_compressed(), seed) for coder in coders]
    return out


def decode_exact(model, data: bytes, count: int, pixels_per_image: int,
                 max_error: int = 0) -> np.ndarray:
    """The inverse of encode_exact: uint8 [count, D] (near-lossless: the decoded levels).
    FormatError where the stream cannot be what encode_exact wrote (the checksum catches
    the rest)."""
    step = ExactStep(model, max_error)
    coder = _new_coder(_stack(data))
    out = np.empty((count, pixels_per_image), dtype=np.uint8)
    try:
        for start, stop in reversed(chunks(count, EXACT_GROWTH)):
            step.pop(coder, out[start:stop])
    except FormatError:
        raise
    except Exception as exc:  # constriction's errors on streams it cannot decode
        raise FormatError(f"lossless stream is damaged ({exc})") from None
    if not np.array_equal(coder.get_compressed(), seed_words()):
        raise FormatError("lossless stream is damaged (the stack did not unwind to its seed)")
    return out


def decode(model, data: bytes, count: int, pixels_per_image: int) -> np.ndarray:
    """A format-3 lossless stream back into uint8 [count, D] (tests/conftest.py keeps the
    encoder that wrote them, to test this). FormatError where the stream cannot be
    what the encoder wrote (the pixel checksum catches the rest)."""
    import constriction

    gaussian, prior, categorical = _models()
    coder = constriction.stream.stack.AnsCoder(_stack(data))
    out = np.empty((count, pixels_per_image), dtype=np.uint8)
    k = model.config.latent_dim
    try:
        for start, stop in reversed(chunks(count)):
            n = stop - start
            z = coder.decode(prior, n * k)
            x = coder.decode(categorical, _pmf(model, z, n))  # [n * D]
            if x.min() < 0 or x.max() >= LEVELS:
                raise FormatError("lossless stream is damaged (pixel out of range)")
            out[start:stop] = x.reshape(n, -1)
            mean, std = _posterior(model, out[start:stop])
            coder.encode_reverse(z, gaussian, mean, std)
    except FormatError:
        raise
    except Exception as exc:  # constriction's errors on streams it cannot decode
        raise FormatError(f"lossless stream is damaged ({exc})") from None
    if not np.array_equal(coder.get_compressed(), seed_words()):
        raise FormatError("lossless stream is damaged (the stack did not unwind to its seed)")
    return out
