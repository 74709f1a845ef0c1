"""vaezip sample: new images from a model's prior."""

from __future__ import annotations

from pathlib import Path

import typer

from vaezip.cli._app import app
from vaezip.cli._options import FORCE
from vaezip.errors import UsageError
from vaezip.fileio import atomic_write_bytes, check_writable
from vaezip.frames.digit import image_bytes
from vaezip.frames.framing import native_image
from vaezip.models.registry import GENERATIVE_MODEL, find, load_model
from vaezip.pipeline import check_digit
from vaezip.training.datasets import grid_png_bytes


@app.command("sample")
def sample_cmd(
    n: int = typer.Option(16, "-n", help="How many images to draw."),
    output: Path = typer.Option(
        None, "-o", "--output", help="PNG grid, or directory with --no-grid [default: "
            "samples.png, or samples/]."),
    model: str = typer.Option(None, "--model", "-m", help="Model [default: mnist-vae-16d]."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same images."),
    temperature: float = typer.Option(1.0, "--temperature", help="Scale of the prior draw."),
    grid: bool = typer.Option(True, "--grid/--no-grid", help="One grid, or one file each."),
    digit: int = typer.Option(None, "--digit", help="Draw this digit, for conditional models "
                                                     "[default: 0-9 in turn]."),
    scale: int = typer.Option(4, "--scale", help="Pixels per model pixel (nearest neighbour): "
                                                 "4 makes a digit 112 px."),
    force: bool = FORCE,
) -> None:
    """Generate new images from the model's prior."""
    if not 1 <= n <= 10_000:
        raise UsageError(f"-n must be between 1 and 10000, not {n}")
    if not 0 < temperature <= 10:
        raise UsageError(f"--temperature must be in (0, 10], not {temperature}")
    if not 1 <= scale <= 32:
        raise UsageError(f"--scale must be between 1 and 32, not {scale}")

    entry = find(model or GENERATIVE_MODEL)

    check_digit(entry.config, entry.name, digit, required=False)
    output = output or Path("samples.png" if grid else "samples")
    width = len(str(n - 1))
    targets = [output] if grid else [output / f"sample-{i:0{width}d}.png" for i in range(n)]
    for target in targets:
        check_writable(target, force)
    import torch
    from PIL import Image

    net, entry = load_model(entry)
    gen = torch.Generator().manual_seed(seed)
    labels = _digit_labels(net, n, digit)
    with torch.inference_mode():
        images = net.decode(net.prior_sample(n, gen, temperature), labels)  # [n, D]
    channels, height, width = net.config.frame
    images = images.reshape(n, channels, height, width)
    what = f"{n} samples" + ("" if digit is None else f" of the digit {digit}")
    if grid:
        png = grid_png_bytes(images, nrow=min(n, 8), scale=scale)
        atomic_write_bytes(output, png, force=force)
        print(f"{output}: {what} from {entry.name} (seed {seed}), {len(png)} bytes")
        return
    for target, image in zip(targets, images.numpy(), strict=True):
        image = native_image(net.config, image.reshape(-1))
        image = image.resize((width * scale, height * scale), Image.Resampling.NEAREST)
        atomic_write_bytes(target, image_bytes(image), force=force)
    print(f"{output}/: {what} from {entry.name} (seed {seed})")


def _digit_labels(net, n: int, digit: int | None):
    """Labels for n draws from a conditional model: the digit, or 0-9 in turn."""
    import torch

    if not net.config.conditional:
        return None
    if digit is not None:
        return torch.full((n,), digit)
    return torch.arange(n) % net.config.classes
