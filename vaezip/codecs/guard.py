"""The identity guard: the lossy encoder checks that each decoding still reads as the same
digit, and codes the few that may not near-lossless instead.

A lossy VAE loses a digit's identity on about 1% of test digits (an ambiguous 4 decodes
as a 9), and better lossy models did not move that (bench/results/identity_guard.md). The
encoder can see it coming: it has the digit and, from the quantised latents, exactly the
image the decoder will show. A small reader (an MLP, 784-256-10, trained on training
digits and their decodings) labels both; where its label distribution moves by more than
a threshold (total variation), the digit is flagged and coded with `--max-error 16` under
the lossless model, which keeps every pixel within 16 levels and so the identity.

The reader is not the benchmark's judge (a CNN, bench/classifier.py): the two disagree on
which digits are ambiguous, so the guard cannot learn the judge's quirks. The threshold is
calibrated on training digits the reader did not see: FLAG_SHARE of them are flagged.

The guard only chooses how a digit is coded; the decoder never runs it, so it needs none
of the coders' exactness. Each lossy model's guard is a safetensors file of its own,
weights/guards/<model>.safetensors, bound to the model's weights hash: a retrained model
has no guard until `make weights` trains one for it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaezip.codecs import Batch
from vaezip.codecs.modes import codec_class
from vaezip.codecs.quantised import QuantisedCodec
from vaezip.errors import ModelFileError
from vaezip.format.records import placement_record
from vaezip.format.writer import frame_bytes, single_files
from vaezip.frames.digit import Placement
from vaezip.models.runtime import load

GUARD_DIR = "guards"
GUARD_FORMAT = "vaezip-guard"
# The reader: wide enough to read digits at ~98%, small enough to cost ~1 ms per 1,000
# digits and 0.4 MB as float16.
READER_WIDTH = 256
READER_EPOCHS = 8  # the test accuracy is flat after ~6
HELD_OUT = 5_000  # training digits kept from the reader, to set the threshold on
# 3% of held-out training digits flagged: bench/identity_guard.py measured the judge's
# agreement at 99.52% for 3% of test digits flagged, at ~14.3 B per digit packed.
FLAG_SHARE = 0.03
FALLBACK_MAX_ERROR = 16  # the cheapest near-lossless setting; it keeps 99.96% of identities
FALLBACK_MODEL = "mnist-vae-lossless-lite"


@dataclass(frozen=True)
class Guard:
    """A lossy model's reader and threshold, and how flagged digits are coded instead."""

    model: str  # the lossy model it guards
    model_sha256: str  # ... in exactly this version
    threshold: float  # total variation of the reader's label distribution above which a
    # digit is flagged
    fallback: str = FALLBACK_MODEL
    max_error: int = FALLBACK_MAX_ERROR
    weights: dict = field(default_factory=dict, repr=False)  # w1 [784, H], b1, w2 [H, 10], b2

    def read(self, pixels: np.ndarray) -> np.ndarray:
        """The reader's label distribution: [N, 784] in [0, 1] -> [N, 10]."""
        w = self.weights
        hidden = np.maximum(pixels.astype(np.float32) @ w["w1"] + w["b1"], 0)
        logits = hidden @ w["w2"] + w["b2"]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def moved(self, pixels: np.ndarray, decoded: np.ndarray) -> np.ndarray:
        """How far the reader's labels move from each image to its decoding, in [0, 1]."""
        return 0.5 * np.abs(self.read(pixels) - self.read(decoded)).sum(axis=1)

    def flags(self, pixels: np.ndarray, decoded: np.ndarray) -> np.ndarray:
        """The images whose decoding may read as another digit: bool [N]."""
        return self.moved(pixels, decoded) > self.threshold


def guard_path(entry) -> Path:
    """Where a model's guard lives: guards/<name>.safetensors beside its weights."""
    return entry.path.parent / GUARD_DIR / f"{entry.name}.safetensors"


def load_guard(entry) -> Guard | None:
    """The guard of a registry model, or None where it has none, or has one made for
    another version of the model (the model was retrained since)."""
    from safetensors import safe_open

    path = guard_path(entry)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            weights = {k: f.get_tensor(k).astype(np.float32) for k in f.keys()}  # noqa: SIM118
        if meta.get("format") != GUARD_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        guard = Guard(meta["model"], meta["model_sha256"], float(meta["threshold"]),
                      meta["fallback"], int(meta["max_error"]), weights)
        if set(weights) != {"w1", "b1", "w2", "b2"} or weights["w1"].shape[0] != 784:
            raise ValueError("reader tensors")
    except Exception as exc:  # a damaged guard file: the package's own, not the user's
        raise ModelFileError(f"{path}: not a readable guard file ({exc})") from None
    if guard.model != entry.name or guard.model_sha256 != entry.sha256:
        return None
    return guard


class GuardPlan:
    """How an encoder guards a lossy codec's digits: the guard, and the near-lossless codec
    its flagged digits go to (loaded on first use: most single files never need it)."""

    def __init__(self, guard: Guard):
        self.guard = guard

    @functools.cached_property
    def fallback(self):
        return codec_class("near-lossless")(load(self.guard.fallback), self.guard.max_error)

    def flags(self, codec, batch) -> np.ndarray:
        """Which images of a batch to code near-lossless: bool [N]. Only images given as
        28x28 8-bit gray digits can be (their model-space pixels are their levels). Those
        the encoder warned do not look like digits can: their near-lossless records drop
        the score, which only said that the lossy decoding would not resemble them."""
        flags = np.zeros(len(batch), dtype=bool)
        rows = np.flatnonzero(_plain_digits(batch))
        if len(rows):
            part = batch.take(rows)
            flags[rows] = self.guard.flags(part.pixels, codec.reconstruct(part))
        return flags

    def fallback_batch(self, batch, rows):
        """The images at rows, ready for the near-lossless codec."""
        part = batch.take(rows)
        levels = np.rint(part.pixels * 255).astype(np.uint8)
        return Batch(part.pixels, tuple(Placement(name=p.name) for p in part.images), levels)


def _plain_digits(batch) -> np.ndarray:
    """bool [N]: images stored as 28x28 8-bit gray, light on dark, as they are."""
    plain = np.array([set(placement_record(p)) <= {"name", "nondigit"} for p in batch.images],
                     dtype=bool)
    exact = (np.rint(batch.pixels * 255).astype(np.float32) / 255 == batch.pixels).all(axis=1)
    return plain & exact


def chunk_frames(codec, plan: GuardPlan | None, batch) -> list[tuple[bytes, list[str],
                                                                      str | None]]:
    """The archive frames of one chunk of images (archive.FRAME_IMAGES of them at most):
    (payload, member names, the frame's own model or None). With a guard, the flagged
    images go to a frame of the fallback model after the rest, which lists their places
    in the chunk (payload.OWN_MODEL_VERSION)."""
    names = [p.name for p in batch.images]
    flags = plan.flags(codec, batch) if plan is not None else np.zeros(len(batch), bool)
    if not flags.any():
        return [(frame_bytes(codec, batch), names, None)]
    kept, flagged = np.flatnonzero(~flags), np.flatnonzero(flags)
    frames = []
    if len(kept):
        frames.append((frame_bytes(codec, batch.take(kept)), [names[i] for i in kept], None))
    fallback = plan.fallback
    payload = frame_bytes(fallback, plan.fallback_batch(batch, flagged), own_model=True,
                                   positions=flagged.tolist() if len(kept) else None)
    frames.append((payload, [names[i] for i in flagged], fallback.model.name))
    return frames


def guarded_single_files(codec, plan: GuardPlan | None, batch) -> tuple[list[bytes],
                                                                          np.ndarray]:
    """A single .vz file per image, lossy or, where the guard flags it, near-lossless; and
    the flags (bool [N])."""
    flags = plan.flags(codec, batch) if plan is not None else np.zeros(len(batch), bool)
    if not flags.any():
        return single_files(codec, batch), flags
    kept, flagged = np.flatnonzero(~flags), np.flatnonzero(flags)
    files: list[bytes] = [b""] * len(batch)
    for rows, made in ((kept, single_files(codec, batch.take(kept))),
                       (flagged, single_files(plan.fallback, plan.fallback_batch(batch, flagged)))):
        for i, data in zip(rows, made, strict=True):
            files[i] = data
    return files, flags


# --- training (make weights) -------------------------------------------------------------


def train_guard(model, quality: int, images, labels, *, seed: int = 1,
                epochs: int = READER_EPOCHS, on_epoch=None) -> tuple[Guard, dict]:
    """Train the reader of a lossy model's decodings at a quality, and set its threshold.
    images: uint8 [N, 28, 28] training digits (torch), labels [N]; the last HELD_OUT (a
    fifth, of fewer than 5 HELD_OUT) set the threshold. Returns the guard and its metrics
    on those held-out digits."""
    import torch
    from torch import nn

    codec = QuantisedCodec(model, quality)
    pixels = images.reshape(len(images), -1).numpy().astype(np.float32) / 255
    decoded = codec.reconstruct(Batch(pixels, ()))
    held_out = min(HELD_OUT, len(pixels) // 5)
    fit, held = slice(0, len(pixels) - held_out), slice(len(pixels) - held_out, None)
    x = torch.from_numpy(np.concatenate([pixels[fit], decoded[fit]]))
    y = torch.cat([labels[fit], labels[fit]])
    torch.manual_seed(seed)
    reader = nn.Sequential(nn.Linear(784, READER_WIDTH), nn.ReLU(), nn.Linear(READER_WIDTH, 10))
    fit_classifier(reader, x, y, epochs, batch_size=256, seed=seed, cosine=True,
                   on_epoch=on_epoch)
    weights = {"w1": reader[0].weight.detach().T, "b1": reader[0].bias.detach(),
               "w2": reader[2].weight.detach().T, "b2": reader[2].bias.detach()}
    # Stored as float16: the guard reads the rounded weights, so calibrate with them.
    weights = {k: v.to(torch.float16).float().contiguous().numpy() for k, v in weights.items()}
    unset = Guard(model.name, model.sha256, 0.0, weights=weights)
    moved = unset.moved(pixels[held], decoded[held])
    threshold = float(np.quantile(moved, 1 - FLAG_SHARE))
    guard = Guard(model.name, model.sha256, threshold, weights=weights)
    accuracy = float((unset.read(pixels[held]).argmax(1) == labels[held].numpy()).mean())
    return guard, {"held_out_accuracy": round(accuracy, 4),
                   "held_out_flagged": round(float(guard.flags(pixels[held], decoded[held])
                                                   .mean()), 4)}


def fit_classifier(model, x, y, epochs: int, batch_size: int, seed: int, cosine: bool = False,
                   on_epoch=None):
    """Train a classifier (a torch module: x [N, 784] -> logits) with Adam at 1e-3 (decayed
    on a cosine over the epochs with cosine=True) on cross-entropy, in a seeded order per
    epoch; returned in eval mode. The guard's reader, and the benchmarks' judge."""
    import torch
    from torch import nn

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs) if cosine else None
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch))
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if schedule is not None:
            schedule.step()
        if on_epoch:
            on_epoch(epoch + 1, loss.item())
    return model.eval()


def guard_bytes(guard: Guard, recipe: dict, metrics: dict) -> bytes:
    """The guard's safetensors file: the reader as float16, the rest in the metadata."""
    from safetensors.numpy import save

    metadata = {"format": GUARD_FORMAT, "model": guard.model,
                "model_sha256": guard.model_sha256, "threshold": repr(guard.threshold),
                "fallback": guard.fallback, "max_error": str(guard.max_error),
                "recipe": json.dumps(recipe, sort_keys=True),
                "metrics": json.dumps(metrics, sort_keys=True)}
    return save({k: v.astype(np.float16) for k, v in guard.weights.items()}, metadata=metadata)
