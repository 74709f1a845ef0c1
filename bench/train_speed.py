"""One training epoch: vaezip's in-memory batching against a per-sample DataLoader.

Both sides train the same model with the same loss and batch size on the full MNIST
training set, on the same threads, for two architectures: pytorch/examples' VAE and the
shipped mnist-vae-16d. The
baseline is the pytorch/examples VAE loop on a CPU: torchvision's MNIST with
transforms.ToTensor() behind a DataLoader (shuffle=True, num_workers=0).

Run: python bench/train_speed.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/train_speed.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vaezip.models.config import ModelConfig
from vaezip.models.recipes import RECIPES
from vaezip.models.torch_nets import build_model
from vaezip.training.datasets import load_mnist, to_model_space
from vaezip.training.loop import train
from vaezip.training.settings import TrainSettings

RESULTS = Path(__file__).resolve().parent / "results" / "train_speed.md"


def vaezip_epoch(config: ModelConfig, batch_size: int, data_dir: Path) -> float:
    """Wall time of `train` for one epoch, data loading into memory included."""
    start = time.perf_counter()
    images = to_model_space(load_mnist(data_dir, train=True, download=False).images)
    with tempfile.TemporaryDirectory() as tmp:
        train(config, TrainSettings(epochs=1, batch_size=batch_size), images,
              Path(tmp) / "ckpt.safetensors")
    return time.perf_counter() - start


def dataloader_epoch(config: ModelConfig, batch_size: int, data_dir: Path,
                     fused_adam: bool = False) -> float:
    """Wall time of the per-sample DataLoader loop for one epoch (plain Adam, as
    pytorch/examples; fused_adam=True isolates the data path alone)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    start = time.perf_counter()
    dataset = datasets.MNIST(str(data_dir), train=True, download=False,
                             transform=transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)
    torch.manual_seed(0)
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused_adam or None)
    model.train()
    for x, _ in loader:
        terms = model.loss(x)
        optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizer.step()
    return time.perf_counter() - start


# (label, config): the reference architecture and the shipped default's.
ARCHITECTURES = [
    ("pytorch/examples VAE (784-400-20)", ModelConfig(latent_dim=20, hidden=(400,))),
    ("mnist-vae-16d (784-512-512-16)", RECIPES["mnist-vae-16d"][0]),
]


def compare(config: ModelConfig, batch_size: int, data_dir: Path, repeats: int) -> dict:
    ours = "vaezip train loop (in-memory tensor, fused Adam)"
    theirs = "per-sample DataLoader + ToTensor, plain Adam (pytorch/examples)"
    data_only = "per-sample DataLoader + ToTensor, fused Adam"
    runs = {ours: [], theirs: [], data_only: []}
    for _ in range(repeats):  # interleaved, so drift in machine load hits all three
        runs[ours].append(vaezip_epoch(config, batch_size, data_dir))
        runs[theirs].append(dataloader_epoch(config, batch_size, data_dir))
        runs[data_only].append(dataloader_epoch(config, batch_size, data_dir, True))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = RECIPES["mnist-vae-16d"][1].batch_size
    lines = [
        "# One training epoch on MNIST (60,000 images)",
        "",
        f"Batch {batch}, Adam, {args.threads} torch threads, median of {args.repeats} "
        f"interleaved runs; each epoch timed whole, dataset loading and (for vaezip) the "
        f"checkpoint included. torch {torch.__version__}, {platform.machine()}.",
        "Command: `python bench/train_speed.py --data-dir ../shared/data` (`make bench`).",
        "",
    ]
    for label, config in ARCHITECTURES:
        runs = compare(config, batch, args.data_dir, args.repeats)
        medians = {k: statistics.median(v) for k, v in runs.items()}
        ours, theirs, data_only = medians.values()
        lines += [
            f"## {label}",
            "",
            "| loop | seconds per epoch (median) | all runs |",
            "|---|---:|---|",
            *[f"| {k} | {medians[k]:.2f} | {', '.join(f'{t:.2f}' for t in v)} |"
              for k, v in runs.items()],
            "",
            f"vaezip's loop is **{theirs / ours:.2f}x** as fast as the pytorch/examples-style "
            f"loop; the data path alone (fused Adam on both sides) is {data_only / ours:.2f}x.",
            "",
        ]
        print("\n".join(lines[-9:]), flush=True)
    lines += [
        "The wider the model, the more an epoch is matrix products, which no data path "
        "speeds up: batching from memory removes the ~2 s per epoch a per-sample DataLoader "
        "spends, and the fused optimiser step removes more.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
