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

from vaezip.training.datasets import binarize


def evaluate(model, images, batch_size: int = 1000, seed: int = 0, labels=None) -> dict:
    """images: float [N, D] in [0, 1] on the model's device (labels [N] for a conditional
    model). Returns a dict of metrics."""
    import torch

    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    n = len(images)
    sums = torch.zeros(4, dtype=torch.float64)  # loss, recon, kl, squared error
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            x = images[start : start + batch_size].flatten(1)  # [B, D]
            y = None if labels is None else labels[start : start + batch_size]
            terms = model.loss(x, generator=gen, labels=y)
            sq = (model.mean_reconstruction(x, y) - x).pow(2).sum()
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
        if config.likelihood in DISCRETE:
            metrics["bits_per_dim"] = loss / n / (d * math.log(2))
    return metrics


LOG_2PI = math.log(2 * math.pi)
# Likelihoods that are probabilities of the pixels as stored (bits/dim applies): Bernoulli
# (of binary pixels, or a cross-entropy on gray ones) and the 256-level logistic mixture.
DISCRETE = ("bernoulli", "logistic")


def iw_log_weights(model, x, k: int, generator, labels=None):
    """log p(x, z_k) - log q(z_k | x) for z_k ~ q(z | x): x [B, D] -> [k, B].

    The decoder's log-likelihood is the full one: Bernoulli, or the unit-variance Gaussian
    with its constant D/2 log(2 pi) (so the estimate is a density and comparable across K).
    """
    import torch

    mu, logvar = model.encode(x, labels)  # [B, K_z] each
    std = torch.exp(0.5 * logvar)
    eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device)  # [k, B, K_z]
    z = mu + eps * std
    log_q = (-0.5 * (eps.pow(2) + LOG_2PI) - 0.5 * logvar).sum(-1)  # [k, B]
    log_prior = (-0.5 * (z.pow(2) + LOG_2PI)).sum(-1)  # [k, B]
    flat = z.reshape(-1, z.shape[-1])  # [k * B, K_z]
    target = x.expand(k, *x.shape).reshape(-1, x.shape[-1])  # [k * B, D]
    y = None if labels is None else labels.repeat(k)  # [k * B], in the order of flat
    if model.config.likelihood == "logistic":
        from vaezip.models.torch_nets import logistic_mixture_nll

        context = {"x": target} if model.config.groups else {}  # a group decoder's pixels
        log_lik = -logistic_mixture_nll(model.decoder_logits(flat, y, **context), target,
                                        model.config.mixture)
    elif model.config.likelihood == "bernoulli":
        import torch.nn.functional as F

        log_lik = -F.binary_cross_entropy_with_logits(
            model.decoder_logits(flat, y), target, reduction="none").sum(-1)
    else:
        d = x.shape[-1]
        log_lik = -0.5 * (model.decode(flat, y) - target).pow(2).sum(-1) - 0.5 * d * LOG_2PI
    return log_lik.reshape(k, -1) + log_prior - log_q


def importance_weighted_nll(model, images, k: int = 1000, batch_size: int = 100,
                            chunk: int = 250, seed: int = 0, on_batch=None, labels=None):
    """The IWAE estimate of -log p(x) per image (Burda, Grosse & Salakhutdinov, 2016):
    -log (1/k) sum_k p(x, z_k) / q(z_k | x). Never above the -ELBO (k = 1 is the ELBO's
    one-sample estimate), and tighter as k grows. images: float [N, D]; returns [N].

    The k samples are drawn in chunks so that memory stays at chunk * batch_size decoder
    outputs; on_batch(images_done) reports progress.
    """
    import torch

    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].flatten(1)  # [B, D]
            y = None if labels is None else labels[start : start + batch_size]
            parts = [iw_log_weights(model, x, min(chunk, k - done), gen, y)
                     for done in range(0, k, chunk)]
            log_w = torch.cat(parts)  # [k, B]
            out.append(math.log(k) - torch.logsumexp(log_w, dim=0))
            if on_batch:
                on_batch(min(start + batch_size, len(images)))
    return torch.cat(out).cpu()


def full_report(model, images, iw_samples: int = 0, seed: int = 0, on_batch=None,
                labels=None) -> dict:
    """Everything `vaezip eval` reports for one model on one test set (nats per image).

    Bernoulli models are also measured on the test set binarised with seed 0 (the standard
    protocol for likelihoods on binary MNIST); with iw_samples > 0, the IWAE estimate of
    the NLL is added (on both pixel versions). The autoencoder has no likelihood: it gets
    reconstruction error and PSNR, and says so.
    """
    import time

    config = model.config
    d = images[0].numel()
    labels = labels if config.conditional else None
    metrics = evaluate(model, images, seed=seed, labels=labels)
    if config.arch == "ae":
        metrics["likelihood"] = "none: the autoencoder defines no p(x); NLL does not apply"
        return metrics
    versions = {"": images}
    if config.likelihood == "bernoulli":
        versions["binarized_"] = binarize(images, seed=0)
        binary = evaluate(model, versions["binarized_"], seed=seed, labels=labels)
        metrics.update({f"binarized_{k}": binary[k]
                        for k in ("neg_elbo", "recon", "kl", "bits_per_dim")})
    if iw_samples > 0:
        start = time.perf_counter()
        for prefix, data in versions.items():
            nll = importance_weighted_nll(model, data, k=iw_samples, seed=seed,
                                          on_batch=on_batch, labels=labels).mean().item()
            metrics[f"{prefix}iw_nll"] = nll
            if config.likelihood in DISCRETE:
                metrics[f"{prefix}iw_bits_per_dim"] = nll / (d * math.log(2))
        metrics["iw_samples"] = iw_samples
        metrics["iw_seconds"] = round(time.perf_counter() - start, 1)
    return metrics
