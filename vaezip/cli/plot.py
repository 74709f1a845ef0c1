"""vaezip plot: the post's figures."""

from __future__ import annotations

from pathlib import Path

import typer

from vaezip.cli._app import app
from vaezip.cli.sample import _digit_labels
from vaezip.codecs import Latents
from vaezip.codecs.modes import for_file
from vaezip.errors import UsageError
from vaezip.fileio import atomic_write_bytes, check_writable
from vaezip.format import container
from vaezip.frames.sources import collect_sources
from vaezip.models.registry import GENERATIVE_MODEL, find, load_model
from vaezip.pipeline import ModelCache, check_digit
from vaezip.training import figures as plots
from vaezip.training.datasets import default_data_dir, load_mnist, to_model_space

PLOT_KINDS = ("recon", "latent", "manifold", "samples", "interpolate")


@app.command("plot")
def plot_cmd(
    kind: str = typer.Argument(..., help="recon | latent | manifold | samples | interpolate"),
    inputs: list[str] = typer.Argument(None, help="interpolate: two .vz files, A and B."),
    model: str = typer.Option(None, "--model", "-m", help="Model [default: mnist-vae-16d]."),
    output: Path = typer.Option(None, "-o", "--output", help="PNG file [default: KIND-MODEL.png]."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where MNIST is, for recon and "
        "latent [default: $VAEZIP_DATA, else "
                                 "~/.local/share/vaezip/data]."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Fetch MNIST into --data-dir when it is missing."),
    n: int = typer.Option(None, "-n", help="Images, grid side or steps [default: recon 16, "
        "samples 64, "
                                           "manifold 20, interpolate 10]."),
    limit: int = typer.Option(None, "--limit", help="latent: the first N test images "
        "[default: all]."),
    per_digit: bool = typer.Option(False, "--per-digit", help="latent: a panel per digit."),
    spherical: bool = typer.Option(False, "--spherical",
                                   help="interpolate along the great circle, not the line."),
    seed: int = typer.Option(0, "--seed", help="samples: the prior draw."),
    digit: int = typer.Option(None, "--digit", help="manifold, samples: this digit's style "
                                                     "space, for conditional models [default: "
                                                         "none]."),
    scale: int = typer.Option(4, "--scale", help="interpolate: pixels per model pixel "
                                                 "(nearest neighbour)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite the output."),
) -> None:
    """Draw the post's figures: recon, latent, manifold, samples, interpolate."""
    if kind not in PLOT_KINDS:
        raise UsageError(f"unknown plot {kind!r}; choose one of {', '.join(PLOT_KINDS)}")
    if (kind == "interpolate") != bool(inputs):
        raise UsageError("interpolate takes two .vz files (A B); other plots take none"
                         if kind != "interpolate" else "interpolate needs two .vz files: A B")
    if not 1 <= scale <= 32:
        raise UsageError(f"--scale must be between 1 and 32, not {scale}")
    if n is not None and not 1 <= n <= 400:
        raise UsageError(f"-n must be between 1 and 400, not {n}")
    entry = find(model or GENERATIVE_MODEL)
    if digit is not None and kind not in ("manifold", "samples"):
        raise UsageError("--digit goes with the manifold and samples plots")

    check_digit(entry.config, entry.name, digit, required=False)
    codes = None
    if kind == "interpolate":
        codes, entry = _interpolation_ends(inputs, model)
    output = output or Path(f"{kind}-{entry.name}.png")
    check_writable(output, force)

    net, entry = load_model(entry)
    if kind in ("recon", "latent"):

        test = load_mnist(data_dir or default_data_dir(), train=False, download=download)
        count = n if kind == "recon" else limit
        images = to_model_space(test.images[:count] if count else test.images)
        labels = test.labels[: len(images)]
        if kind == "recon":
            png = plots.recon(net, images, n=n or 16, labels=labels)
        else:
            png = plots.latent(net, images, labels, per_digit=per_digit, name=entry.name)
    elif kind == "manifold":
        png = plots.manifold(net, n=n or 20, name=entry.name, digit=digit)
    elif kind == "samples":
        count = n or 64
        png = plots.samples(net, n=count, seed=seed, labels=_digit_labels(net, count, digit))
    else:
        png = plots.interpolate(net, *codes[:2], steps=n or 10, spherical=spherical,
                                digit=codes[2], scale=scale)
    atomic_write_bytes(output, png, force=force)
    print(f"{output}: {kind} of {entry.name}, {len(png):,} bytes")



def _interpolation_ends(inputs: list[str], model: str | None):
    """The latent codes (posterior means of each file's first image) of A.vz and B.vz,
    and A's digit (for a conditional model)."""
    import torch

    if len(inputs) != 2:
        raise UsageError(f"interpolate needs exactly two .vz files, not {len(inputs)}")
    sources = collect_sources(inputs, suffixes={".vz"})
    files = [container.loads(s.read(), s.label) for s in sources]
    if files[0].model != files[1].model:
        raise UsageError(f"{inputs[0]} and {inputs[1]} were made by different models "
                         f"({files[0].model}, {files[1].model})")
    if model and model != files[0].model:
        raise UsageError(f"the .vz files were made by {files[0].model}, not {model}")
    models, ends = ModelCache(), []
    for source, vz in zip(sources, files, strict=True):  # installed, same weights and size
        decoded = for_file(vz, models.get(vz, source.label)).decode(vz, source.label)
        if not isinstance(decoded, Latents):
            raise UsageError(f"{source.label}: a lossless file has no latent code to "
                             f"interpolate")
        ends.append(torch.from_numpy(decoded.mu[0]))
    return (*ends, files[0].images[0].digit), find(files[0].model)
