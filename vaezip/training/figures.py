"""The post's figures, from any registered model. Each function returns PNG bytes; the CLI
writes them. matplotlib (Agg) for plots with axes and legends, torchvision's make_grid for
image grids (vaezip.training.datasets.grid_png_bytes).
"""

from __future__ import annotations

import io

from vaezip.training.datasets import grid_png_bytes

DPI = 100
DIGIT_COLOURS = "tab10"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    _pyplot().close(fig)
    return buffer.getvalue()


def _codes(model, images, labels=None):
    """Where each image sits in latent space: the posterior mean (the AE's sigmoid code)."""
    import torch

    with torch.inference_mode():
        if model.config.arch == "ae":
            return model.encode(images.flatten(1)).cpu()
        return model.encode(images.flatten(1), labels if model.config.conditional
                            else None)[0].cpu()


def recon(model, images, n: int = 16, labels=None) -> bytes:
    """n test inputs (top rows) above their reconstructions (bottom rows)."""
    import torch

    x = images[:n].flatten(1)
    y = labels[:n] if labels is not None and model.config.conditional else None
    with torch.inference_mode():
        x_hat = model.mean_reconstruction(x, y)
    both = torch.cat([x, x_hat]).reshape(-1, *model.config.frame)
    return grid_png_bytes(both, nrow=min(n, 8))


def project_2d(codes):
    """[N, K] -> ([N, 2], description): as is for K <= 2, else the top two principal
    components (with the share of variance they keep)."""
    import torch

    k = codes.shape[1]
    if k == 1:
        return torch.cat([codes, torch.zeros_like(codes)], 1), "1-D latent"
    if k == 2:
        return codes, "2-D latent"
    centred = codes - codes.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    share = float((s[:2].pow(2).sum() / s.pow(2).sum()) * 100)
    return centred @ v[:2].T, f"PCA of the {k}-D latent ({share:.0f}% of variance)"


def latent(model, images, labels, per_digit: bool = False, name: str = "") -> bytes:
    """The test set in latent space (posterior means), coloured by digit, with a legend;
    per_digit adds one small panel per digit, as the post does."""
    plt = _pyplot()
    xy, how = project_2d(_codes(model, images, labels))
    xy, labels = xy.numpy(), labels.cpu().numpy()
    cmap = plt.get_cmap(DIGIT_COLOURS)
    if per_digit:
        fig = plt.figure(figsize=(14, 6))
        grid = fig.add_gridspec(2, 7, width_ratios=[2.5, 2.5, 1, 1, 1, 1, 1])
        main = fig.add_subplot(grid[:, :2])
    else:
        fig, main = plt.subplots(figsize=(7, 6))
    for digit in range(10):
        pts = xy[labels == digit]
        main.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.6, color=cmap(digit), label=str(digit))
    main.legend(title="digit", markerscale=5, loc="best", fontsize=8)
    main.set_title(f"{name}: test set, {how}".strip(": "))
    main.set_xlabel("z1" if "PCA" not in how else "PC1")
    main.set_ylabel("z2" if "PCA" not in how else "PC2")
    if per_digit:
        for digit in range(10):
            ax = fig.add_subplot(grid[digit // 5, 2 + digit % 5], sharex=main, sharey=main)
            ax.scatter(xy[:, 0], xy[:, 1], s=1, color="0.85")
            pts = xy[labels == digit]
            ax.scatter(pts[:, 0], pts[:, 1], s=1, color=cmap(digit))
            ax.set_title(str(digit), fontsize=9)
            ax.tick_params(labelbottom=False, labelleft=False, length=0)
    fig.tight_layout()
    return _png(fig)


def manifold_axes(model, n: int):
    """The grid values along each latent axis: cell centres of [0, 1] for the autoencoder
    (its latent is a sigmoid), standard-normal quantiles for a VAE (equal prior mass per
    cell)."""
    import torch

    centres = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    if model.config.arch == "ae":
        return centres
    return torch.distributions.Normal(0.0, 1.0).icdf(centres)


def manifold(model, n: int = 20, name: str = "", digit: int | None = None) -> bytes:
    """The decoder's output over a regular n x n grid of the latent plane (z1, z2); other
    latent dimensions, if any, held at the prior's centre. A conditional model draws one
    digit's style space (digit 0 unless given)."""
    import torch

    plt = _pyplot()
    k, side = model.config.latent_dim, model.config.image_side
    values = manifold_axes(model, n)
    centre = 0.5 if model.config.arch == "ae" else 0.0
    z = torch.full((n * n, k), centre)
    z2, z1 = torch.meshgrid(values.flip(0), values, indexing="ij")  # z2 grows upwards
    z[:, 0] = z1.reshape(-1)
    if k > 1:
        z[:, 1] = z2.reshape(-1)
    labels = torch.full((n * n,), digit or 0) if model.config.conditional else None
    with torch.inference_mode():
        tiles = model.decode(z, labels).reshape(n, n, side, side).cpu()
    canvas = tiles.permute(0, 2, 1, 3).reshape(n * side, n * side).numpy()
    fig, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1)
    ticks = range(0, n, max(1, n // 5))
    ax.set_xticks([i * side + side / 2 for i in ticks], [f"{values[i]:.2f}" for i in ticks])
    ax.set_yticks([i * side + side / 2 for i in ticks],
                  [f"{values.flip(0)[i]:.2f}" for i in ticks])
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    grid_of = ("[0, 1]^2 (sigmoid latent)" if model.config.arch == "ae"
               else "standard-normal quantiles")
    extra = f"; z3..z{k} at {centre}" if k > 2 else ""
    extra += f"; digit {digit or 0}" if model.config.conditional else ""
    ax.set_title(f"{name}: decoder over {grid_of}{extra}".strip(": "), fontsize=10)
    fig.tight_layout()
    return _png(fig)


def samples(model, n: int = 64, seed: int = 0, temperature: float = 1.0, labels=None) -> bytes:
    """n draws from the prior, decoded (given labels, for a conditional model), as a grid."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        images = model.decode(model.prior_sample(n, gen, temperature), labels)
    return grid_png_bytes(images.reshape(n, *model.config.frame), nrow=min(n, 8))


def interpolation_path(a, b, steps: int, spherical: bool = False):
    """steps points from a to b ([K] each): a straight line, or the great circle (slerp),
    which keeps the norm typical of a Gaussian latent instead of cutting through the
    low-density middle. -> [steps, K]"""
    import torch

    t = torch.linspace(0, 1, steps).unsqueeze(1)  # [steps, 1]
    if not spherical:
        return (1 - t) * a + t * b
    cos = torch.clamp((a @ b) / (a.norm() * b.norm() + 1e-12), -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # (anti)parallel: the line is the circle
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate(model, a, b, steps: int = 10, spherical: bool = False,
                digit: int | None = None, scale: int = 1) -> bytes:
    """Decoded images along the path between two latent codes, as one row (a conditional
    model draws them all as `digit`)."""
    import torch

    path = interpolation_path(a, b, steps, spherical)
    labels = torch.full((steps,), digit or 0) if model.config.conditional else None
    with torch.inference_mode():
        images = model.decode(path, labels)
    return grid_png_bytes(images.reshape(steps, *model.config.frame), nrow=steps, scale=scale)
