"""Test-set metrics, in nats per image unless named otherwise.

- neg_elbo: -ELBO = reconstruction + KL, one posterior sample per image (seeded);
- recon: E_q[-log p(x|z)] (for the autoencoder: squared error summed over pixels);
- kl: KL(q(z|x) || N(0, I));
- bits_per_dim: neg_elbo / (784 ln 2) (Bernoulli models only: a density of a Gaussian
  on continuous pixels is not a code length);
- psnr: of the mean reconstruction (decoder of the posterior mean), from the mean
  squared error over all test pixels, peak 1.0.
"""

from __future__ import annotations

import math


def evaluate(model, images, batch_size: int = 1000, seed: int = 0) -> dict:
    """images: float [N, D] in [0, 1] on the model's device. Returns a dict of metrics."""
    import torch

    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    n = len(images)
    sums = torch.zeros(4, dtype=torch.float64)  # loss, recon, kl, squared error
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            x = images[start : start + batch_size].flatten(1)  # [B, D]
            terms = model.loss(x, generator=gen)
            sq = (model.mean_reconstruction(x) - x).pow(2).sum()
            sums += torch.stack(
                [terms.loss * len(x), terms.recon * len(x), terms.kl * len(x), sq]
            ).double().cpu()
    loss, recon, kl, sq = sums.tolist()
    d = images[0].numel()
    mse = sq / (n * d)
    config = model.config
    metrics = {
        "test_images": n,
        "recon": recon / n,
        "psnr": 10 * math.log10(1.0 / mse) if mse > 0 else float("inf"),
        "mse_per_pixel": mse,
    }
    if config.arch != "ae":
        metrics["neg_elbo"] = loss / n
        metrics["kl"] = kl / n
        if config.likelihood == "bernoulli":
            metrics["bits_per_dim"] = loss / n / (d * math.log(2))
    return metrics
