"""Does pixel-group context pay for lossless coding (issue 17)? A probe, not a feature.

Trains, on this CPU, MLP VAEs like mnist-vae-lossless (32 latent dims, 512 wide, a mixture
of 3 discretised logistics per pixel) whose decoder predicts the pixels in G interleaved
groups: the image split into s x s blocks (G = s^2), group g holding pixel (i, j) of every
block. Group g sees the decoder's z features and the pixels of groups 0 .. g-1, so the coder
would run G small network passes per image, not 784. G = 1 is the plain decoder. Reports the
test set's negative ELBO in bits/dim after each epoch: the rate bits-back coding would
reach (plus ~0.01 for coding).

Run: python bench/lossless_groups.py --data-dir ../shared/data --groups 1 4 16 --epochs 10
Writes bench/results/lossless_groups-<epochs>ep.md (and .json).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from common import write_results
from torch import nn

from vaezip.models.config import block_positions
from vaezip.models.torch_nets import gaussian_kl, logistic_mixture_nll, mlp
from vaezip.training.datasets import load_mnist

RESULTS = Path(__file__).resolve().parent / "results"  # lossless_groups-<epochs>ep.md
LATENT, WIDTH, MIXTURE = 32, 512, 3


def group_order(side: int, block: int) -> list[np.ndarray]:
    """Pixel indices [784 / G] of each group, in coding order."""
    grid = np.arange(side * side).reshape(side, side)
    return [grid[i::block, j::block].ravel() for i, j in block_positions(block)]


class GroupVAE(nn.Module):
    def __init__(self, groups: list[np.ndarray]):
        super().__init__()
        self.groups = [torch.as_tensor(g) for g in groups]
        self.encoder = mlp([784, WIDTH, WIDTH, 2 * LATENT])
        self.trunk = mlp([LATENT, WIDTH, WIDTH])  # z -> features every group sees
        seen = np.cumsum([0] + [len(g) for g in groups])
        self.heads = nn.ModuleList(
            mlp([WIDTH + int(seen[k]), WIDTH, 3 * MIXTURE * len(g)])
            for k, g in enumerate(groups))

    def loss(self, x: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, 784] in [0, 1] -> (loss to minimise, -ELBO per image), nats."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # [B, K] each
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        h = torch.relu(self.trunk(z))  # [B, W]
        scaled = 2 * x - 1
        nll = 0
        for k, (group, head) in enumerate(zip(self.groups, self.heads, strict=True)):
            before = torch.cat([h] + [scaled[:, g] for g in self.groups[:k]], dim=1)
            nll = nll + logistic_mixture_nll(head(before), x[:, group], MIXTURE)  # [B]
        kl = gaussian_kl(mu, logvar)
        return (nll + kl_weight * kl).mean(), (nll + kl).detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="KL warm-up epochs")
    args = parser.parse_args()
    torch.manual_seed(0)
    train = load_mnist(args.data_dir, train=True, download=False).images
    test = load_mnist(args.data_dir, train=False, download=False).images
    train = train.reshape(len(train), -1).float() / 255
    test = test.reshape(len(test), -1).float() / 255
    per_dim = 1 / (784 * math.log(2))
    rows, data = [], {}
    for g in args.groups:
        block = int(round(math.sqrt(g)))
        torch.manual_seed(0)
        model = GroupVAE(group_order(28, block))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
        curve = []
        start = time.perf_counter()
        for epoch in range(args.epochs):
            model.train()
            kl_weight = min(1.0, (epoch + 1) / max(1, args.warmup))
            for batch in torch.randperm(len(train)).split(128):
                loss, _ = model.loss(train[batch], kl_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
            model.eval()
            with torch.no_grad():
                elbo = torch.cat([model.loss(test[i : i + 1000], 1.0)[1]
                                  for i in range(0, len(test), 1000)])
            curve.append(round(float(elbo.mean()) * per_dim, 4))
            print(f"G={g} epoch {epoch + 1}: {curve[-1]} bits/dim", flush=True)
        seconds = (time.perf_counter() - start) / args.epochs
        data[f"G={g}"] = {"bits_per_dim": curve, "seconds_per_epoch": round(seconds, 1)}
        rows.append(f"| {g} | {curve[-1]:.4f} | {seconds:.0f} | "
                    + ", ".join(f"{c:.3f}" for c in curve) + " |")
    lines = ["# Lossless: does pixel-group context pay?", "",
             f"MLP VAE, {LATENT} latent dims, {WIDTH} wide, {MIXTURE} logistics per pixel; "
             f"{args.epochs} epochs, KL warm-up {args.warmup}, Adam 1e-3 with cosine decay, "
             "batch 128, one CPU process. Test -ELBO in bits/dim (one z sample per image). "
             f"Command: `python bench/lossless_groups.py --groups {' '.join(map(str, args.groups))}"
             f" --epochs {args.epochs} --warmup {args.warmup}`.", "",
             "| groups | test -ELBO, last epoch | s/epoch | each epoch |", "|---:|---:|---:|---|",
             *rows, ""]
    write_results(RESULTS / f"lossless_groups-{args.epochs}ep", lines, data)


if __name__ == "__main__":
    main()
