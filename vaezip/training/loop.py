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

import numpy as np

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


@dataclass(frozen=True)
class TrainSettings:
    # Enough for the 2-D models to settle; the 16-D model's recipe asks for more.
    epochs: int = 20
    # 128 as in pytorch/examples: small enough for noisy, well-generalising steps,
    # large enough to keep a CPU's matrix kernels busy.
    batch_size: int = 128
    # Adam's usual 1e-3, decayed to 0 on a cosine over the run: the last epochs
    # polish instead of bouncing, worth a few nats of test ELBO at no cost.
    lr: float = 1e-3
    seed: int = 0
    dataset: str = "mnist"
    # Dynamic binarisation: every batch is a fresh Bernoulli draw of the gray pixels, the
    # standard protocol for likelihoods on binary MNIST (and a regulariser). Off: train
    # on the grayscale intensities, as pytorch/examples and the post do.
    binarize: bool = False
    # KL warm-up: the KL term's weight ramps from 0 to 1 over this many epochs, so the
    # encoder learns to use its latents before the prior pulls them in. 0: plain ELBO.
    kl_warmup_epochs: int = 0
    # beta-VAE weight on the KL term (Higgins et al. 2017). 1: the ELBO. Below 1 the
    # latents carry more of each image (sharper reconstructions, a higher rate): the
    # rate-distortion trade-off a compressor wants, one model per operating point.
    beta: float = 1.0
    # "auto": bfloat16 autocast on CUDA (float16 with loss scaling where bf16 is missing),
    # float32 elsewhere; CPUs and MPS gain little and risk more from reduced precision.
    precision: str = "auto"
    # Dropout on a pixel-group decoder's trunk and heads while training (models.GroupVAE);
    # 0: none. The heads overfit: 16 groups trained to 1.18 bits/dim, tested at 1.205.
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise OptionError(Option("epochs"), f" must be at least 1, not {self.epochs}")
        if self.batch_size < 1:
            raise OptionError(Option("batch_size"), f" must be at least 1, not {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise OptionError(Option("lr"), f" must be a positive number, not {self.lr}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise OptionError(Option("precision"), " must be auto, fp32, bf16 or fp16, not "
                              f"{self.precision}")
        if self.kl_warmup_epochs < 0:
            raise OptionError(Option("kl_warmup_epochs"), " must be at least 0, not "
                              f"{self.kl_warmup_epochs}")
        if not (self.beta > 0 and math.isfinite(self.beta)):
            raise OptionError(Option("beta"), f" must be a positive number, not {self.beta}")
        if not 0 <= self.dropout < 1:
            raise OptionError(Option("dropout"),
                              f" must be at least 0 and below 1, not {self.dropout}")

    def lr_at(self, epoch: int) -> float:
        """Cosine decay from lr (epoch 0) towards 0 (after the last epoch)."""
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))


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


SHUFFLE, BINARIZE, NOISE = 0, 1, 2  # the random streams of an epoch


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
        sums = torch.zeros(4, dtype=torch.float64)  # loss, recon, kl (summed), images
        for b in range(batches):
            idx = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            x = data[idx]  # [B, D]
            y = targets[idx] if targets is not None else None  # [B]
            if flips is not None:
                x = torch.bernoulli(x, generator=flips)
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


def kl_weight(settings: TrainSettings, epochs_done: float) -> float:
    """The KL term's weight after epochs_done (fractional) epochs: settings.beta, ramped
    up from 0 over the KL warm-up."""
    if settings.kl_warmup_epochs <= 0:
        return settings.beta
    return settings.beta * min(1.0, epochs_done / settings.kl_warmup_epochs)


def train_and_register(
    name: str,
    config: ModelConfig,
    settings: TrainSettings,
    data_dir: Path,
    checkpoint: Path,
    out_path: Path,
    resume: bool = False,
    force: bool = False,
    device: str = "cpu",
    limit: int | None = None,
    store_dtype: str = "float32",
    callbacks: TrainCallbacks | None = None,
    download: bool = True,
    keep_checkpoint: bool = True,
) -> dict | None:
    """The whole job of `vaezip train` and `make weights`: load data, train, evaluate the
    stored form of the weights on the test set, write the model file. The last checkpoint
    stays (keep_checkpoint) so that a finished run can be trained further: resume with
    more epochs. `make weights` drops it, so that rerunning a recipe retrains it.

    Returns the model file's summary (name, path, metrics, training record); None in the
    processes of a torchrun job other than rank 0.
    """
    import platform

    import torch

    from vaezip.fileio import atomic_write_bytes, check_writable
    from vaezip.models.detector import calibrate_stored
    from vaezip.models.registry import read_entry, serialize_model
    from vaezip.training.datasets import load_dataset, to_model_space

    check_writable(out_path, force)
    train_set = load_dataset(settings.dataset, data_dir, train=True, download=download)
    images = to_model_space(train_set.images[:limit] if limit else train_set.images)
    labels = train_set.labels[: len(images)]
    result = train(config, settings, images, checkpoint, resume, device, callbacks, labels)
    if not result.is_main:
        return None  # under torchrun, rank 0 alone evaluates and registers

    dtype = {"float32": torch.float32, "float16": torch.float16}[store_dtype]
    training = {
        **asdict(settings),
        "train_images": len(images),
        "seconds_per_epoch": round(result.seconds_per_epoch, 2),
        "final_train_loss": round(result.history[-1]["loss"], 3),
        "device": resolve_device(device),
        "processes": result.world_size,
        # Under torchrun every rank's final weights were hashed and compared (else: error).
        **({"ranks_identical": True} if result.world_size > 1 else {}),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "stored_as": store_dtype,
    }
    test_set = load_dataset(settings.dataset, data_dir, train=False, download=download)
    metrics = {}  # stays empty for an image folder without a test split
    if test_set is not None:
        test_images = to_model_space(test_set.images).to(resolve_device(device))
        test_labels = test_set.labels.to(test_images.device) if config.conditional else None
        metrics = _test_metrics(result.model, name, config, dtype, test_images, test_labels,
                                training)
    codec = codec_statistics(result.model, images, labels) if config.arch != "ae" else {}
    data, _ = serialize_model(result.model, name, metrics=metrics, training=training,
                              dtype=dtype, codec=codec)
    # The "not a digit" warning, calibrated on the stored weights. Lossless coding never
    # warns, so the 256-level models go without.
    if config.arch == "vae" and config.likelihood != "logistic":
        detector = calibrate_stored(data, config, images.flatten(1).numpy(),
                                    labels.numpy() if config.conditional else None,
                                    classes=labels.numpy())
        if detector is not None:
            data, _ = serialize_model(result.model, name, metrics=metrics, training=training,
                                      dtype=dtype, codec=codec, nondigit=detector.to_json())
    atomic_write_bytes(out_path, data, force=force, durable=True)
    if not keep_checkpoint:
        checkpoint.unlink(missing_ok=True)
    return read_entry(out_path, kind="new").summary()


def codec_statistics(model, images, labels=None, batch_size: int = 4096) -> dict:
    """The entropy model of coded .vz files: each latent dim's typical posterior width
    (geometric mean of sigma) over the training images, as integers (entropy.py)."""
    import torch

    from vaezip.codecs.entropy import estimate_sigma_units

    model.eval()
    device = next(model.parameters()).device
    sigmas = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device).flatten(1)  # [B, D]
            y = None if labels is None or not model.config.conditional else (
                labels[start : start + batch_size].to(device))
            _, logvar = model.encode(x, y)  # [B, K]
            sigmas.append(torch.exp(0.5 * logvar).float().cpu().numpy())
    return {"sigma_units": estimate_sigma_units(np.concatenate(sigmas))}


def _test_metrics(model, name, config, dtype, test_images, test_labels, training: dict
                  ) -> dict:
    """Metrics of exactly what is stored (e.g. float16 weights); what float32 gave goes
    into the training record. Bernoulli models are also measured on binarised pixels."""
    import torch

    from vaezip.models.registry import serialize_model
    from vaezip.training.datasets import binarize
    from vaezip.training.evaluate import evaluate

    data, _ = serialize_model(model, name, dtype=dtype)
    stored = _model_from_bytes(data, config, test_images.device)
    metrics = evaluate(stored, test_images, labels=test_labels)
    if config.likelihood == "bernoulli":  # the binarised test set, seed 0
        binary = evaluate(stored, binarize(test_images, seed=0), labels=test_labels)
        metrics.update({f"binarized_{k}": binary[k] for k in ("neg_elbo", "recon", "kl",
                                                                "bits_per_dim")})
    if dtype != torch.float32:
        full = evaluate(model, test_images, labels=test_labels)
        key = "neg_elbo" if "neg_elbo" in full else "recon"
        training[f"float32_test_{key}"] = round(full[key], 4)
    return metrics


def _model_from_bytes(data: bytes, config: ModelConfig, device: str):
    from safetensors.torch import load

    from vaezip.models.torch_nets import build_model

    model = build_model(config)
    model.load_state_dict({k: v.float() for k, v in load(data).items()})
    return model.to(device).eval()
