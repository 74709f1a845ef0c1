"""The training loop: in-memory batches, a checkpoint after every epoch, exact resume.

Checkpoints are safetensors too (model and Adam state as tensors; settings and history
as JSON metadata), so resuming never unpickles anything. Every random stream (shuffle,
binarisation, posterior noise) is derived from (seed, epoch, rank), so no RNG state needs
saving for a resume to be exact. Progress is
reported through callbacks; this module never prints.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vaezip.errors import Option, OptionError, UsageError
from vaezip.models.config import ModelConfig
from vaezip.training.checkpoint import load_checkpoint, save_checkpoint
from vaezip.training.distributed import (
    Distributed,
    all_reduce_sum,
    check_ranks_agree,
    distributed_from_env,
    init_process_group,
    wrap_model,
)
from vaezip.training.settings import TrainSettings, kl_weight


@dataclass
class EpochReport:
    epoch: int  # 1-based, the epoch just finished
    epochs: int
    loss: float  # mean training loss over the epoch (nats per image)
    recon: float
    kl: float
    seconds: float


@dataclass
class TrainCallbacks:
    on_start: Callable[[int, int, int], None] | None = None  # (first_epoch, epochs, batches)
    on_batch: Callable[[int, int, float], None] | None = None  # (epoch, batch, loss)
    on_epoch: Callable[[EpochReport], None] | None = None


@dataclass
class TrainResult:
    model: object
    history: list[dict] = field(default_factory=list)
    world_size: int = 1  # processes that trained it (torchrun)
    is_main: bool = True  # rank 0, or not distributed: the process that writes

    @property
    def seconds_per_epoch(self) -> float:
        secs = [h["seconds"] for h in self.history]
        return sum(secs) / len(secs) if secs else float("nan")


def set_threads(threads: int | None) -> None:
    """Use every core we are allowed on, unless told otherwise: two torch processes on
    the same cores thrash, so one process should own them deliberately."""

    import torch

    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, threads or available or 1))


def resolve_device(device: str) -> str:
    import torch

    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError(Option("device"), " cuda: no CUDA device is available here; use ",
                          Option("device"), " cpu")
    if device == "mps" and not has_mps:
        raise OptionError(Option("device"), " mps: no Apple GPU (MPS) is available here; use ",
                          Option("device"), " cpu")
    if device not in ("cpu", "cuda", "mps"):
        raise OptionError(Option("device"), f" must be auto, cpu, cuda or mps, not {device!r}")
    return device


def make_optimizer(model, lr: float):
    """Adam; its fused kernel where the device has one (one pass over all parameters
    instead of a loop of small ops: a 3x faster step on a CPU, the same update rule)."""
    import torch

    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):  # no fused kernel for this device or dtype
        return torch.optim.Adam(model.parameters(), lr=lr)


SHUFFLE, BINARIZE, NOISE, MIRROR = 0, 1, 2, 3  # the random streams of an epoch


def epoch_generator(seed: int, epoch: int, stream: int, device: str = "cpu", rank: int = 0):
    """A generator that depends only on (seed, epoch, stream, rank): the shuffle, the
    binarisation and the posterior noise of an epoch need no saved RNG state, so a run
    resumes exactly, for any number of processes."""
    import torch

    key = (((seed * 1_000_003 + epoch) * 4 + stream) * 65_536) + rank
    return torch.Generator(device=device).manual_seed(key)


def epoch_order(n: int, seed: int, epoch: int):
    import torch

    return torch.randperm(n, generator=epoch_generator(seed, epoch, SHUFFLE))


def _mirrored(x, config: ModelConfig, generator):
    """x [B, D] with a random half (by generator) of its images flipped left-right."""
    import torch

    frames = x.view(len(x), config.channels, config.height, config.width)
    flip = torch.rand(len(x), generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], frames.flip(-1), frames).reshape(x.shape)


def train(
    config: ModelConfig,
    settings: TrainSettings,
    images,
    checkpoint: Path,
    resume: bool = False,
    device: str = "cpu",
    callbacks: TrainCallbacks | None = None,
    labels=None,
) -> TrainResult:
    """Train on images (float [N, 784] in [0, 1]; labels int [N] for a conditional model);
    checkpoint after every epoch.

    With resume=True, continues from `checkpoint` exactly where it stopped: the same
    weights, optimiser moments, shuffle, binarisation and noise as an uninterrupted run.
    Under torchrun (WORLD_SIZE > 1) it trains with DistributedDataParallel (gloo on CPU,
    nccl on CUDA): each process takes its share of every epoch through a
    DistributedSampler; only rank 0 writes checkpoints and reports progress.
    """
    import torch

    from vaezip.models.torch_nets import build_model

    dist = distributed_from_env()
    device = resolve_device(device)
    if dist:
        device = init_process_group(dist, device)
    callbacks = callbacks or TrainCallbacks()
    if dist and not dist.is_main:
        callbacks = TrainCallbacks()  # one voice: rank 0's
    rank = dist.rank if dist else 0
    if device == "cpu":  # the logistic likelihood's far tails underflow into denormals,
        torch.set_flush_denormal(True)  # which x86 computes slowly (~15% of an epoch)
    torch.manual_seed(settings.seed)  # the same initial weights in every process
    model = build_model(config).to(device)
    if settings.dropout:
        if not config.groups:
            raise OptionError(Option("dropout"), " is for pixel-group models (groups > 0)")
        model.dropout = settings.dropout
    optimizer = make_optimizer(model, settings.lr)
    history: list[dict] = []
    first_epoch = 0
    if resume:
        first_epoch, history = load_checkpoint(checkpoint, model, optimizer, config, settings)
    net = wrap_model(model, device) if dist else model
    autocast, scaler = _mixed_precision(settings.precision, device)
    data = images.to(device)
    targets = _labels_for(config, labels, len(data), device)
    n = len(data)
    per_rank = math.ceil(n / dist.world_size) if dist else n
    batches = math.ceil(per_rank / settings.batch_size)
    if callbacks.on_start:
        callbacks.on_start(first_epoch, settings.epochs, batches)

    for epoch in range(first_epoch, settings.epochs):
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = settings.lr_at(epoch)
        net.train()
        order = _epoch_indices(n, settings.seed, epoch, dist).to(device)
        flips = (epoch_generator(settings.seed, epoch, BINARIZE, device, rank)
                 if settings.binarize else None)
        noise = epoch_generator(settings.seed, epoch, NOISE, device, rank)
        mirror = (epoch_generator(settings.seed, epoch, MIRROR, device, rank)
                  if settings.mirror else None)
        sums = torch.zeros(4, dtype=torch.float64)  # loss, recon, kl (summed), images
        for b in range(batches):
            idx = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            x = data[idx]  # [B, D]
            y = targets[idx] if targets is not None else None  # [B]
            if flips is not None:
                x = torch.bernoulli(x, generator=flips)
            if mirror is not None:
                x = _mirrored(x, config, mirror)
            with autocast():
                terms = net(x, generator=noise, labels=y)  # LossTerms, through DDP's forward
                beta = kl_weight(settings, epoch + b / batches)
                objective = terms.recon + beta * terms.kl if beta != 1 else terms.loss
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(objective).backward()
            scaler.step(optimizer)
            scaler.update()
            step = torch.stack([terms.loss, terms.recon, terms.kl]).detach().double().cpu()
            sums[:3] += step * len(x)
            sums[3] += len(x)
            if callbacks.on_batch:
                callbacks.on_batch(epoch + 1, b + 1, float(step[0]))
        if dist:
            sums = all_reduce_sum(sums, device)
        loss, recon, kl = (sums[:3] / sums[3]).tolist()
        report = EpochReport(epoch + 1, settings.epochs, loss, recon, kl,
                             time.perf_counter() - start)
        history.append(asdict(report))
        if not dist or dist.is_main:
            save_checkpoint(checkpoint, model, optimizer, config, settings, epoch + 1, history)
        if callbacks.on_epoch:
            callbacks.on_epoch(report)
    model.eval()
    if dist:
        check_ranks_agree(model, device)
        torch.distributed.barrier()  # nobody leaves before rank 0 has its last checkpoint
        torch.distributed.destroy_process_group()
    return TrainResult(model=model, history=history, world_size=dist.world_size if dist else 1,
                       is_main=not dist or dist.is_main)


def _labels_for(config: ModelConfig, labels, n: int, device: str):
    """The labels a conditional model trains on (checked), or None."""
    if not config.conditional:
        return None
    if labels is None or len(labels) != n:
        raise UsageError("a conditional model (arch cvae) needs one label per image")
    if int(labels.min()) < 0 or int(labels.max()) >= config.classes:
        raise UsageError(f"arch cvae needs labels 0..{config.classes - 1} for every image "
                         f"(an image folder gives them by digit-named subfolders)")
    return labels.to(device)


def _epoch_indices(n: int, seed: int, epoch: int, dist: Distributed | None):
    """This process's indices for the epoch: all of them, or its DistributedSampler share."""
    import torch

    if dist is None:
        return epoch_order(n, seed, epoch)
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(range(n), num_replicas=dist.world_size, rank=dist.rank,
                                 shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler))


def _mixed_precision(precision: str, device: str):
    """(autocast context factory, grad scaler) for the precision setting on device."""
    import contextlib

    import torch

    cuda = device.startswith("cuda")
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if precision != "fp32" and not cuda:
        raise OptionError(Option("precision"),
                          f" {precision} needs a CUDA device; use fp32 or auto")
    if precision == "fp32":
        return contextlib.nullcontext, torch.amp.GradScaler("cpu", enabled=False)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return (lambda: torch.autocast("cuda", dtype=dtype),
            torch.amp.GradScaler("cuda", enabled=precision == "fp16"))
