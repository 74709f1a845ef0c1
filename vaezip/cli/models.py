"""vaezip models: the registry's models and their test metrics; one model in full."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import typer

from vaezip.cli._app import app
from vaezip.models.registry import (
    DEFAULT_MODEL,
    GENERATIVE_MODEL,
    LOSSLESS_MODEL,
    NEAR_LOSSLESS_MODEL,
    find,
    list_models,
)

# What the -ELBO column means for each likelihood: they are not comparable across rows.
UNITS = {"bernoulli": "nats", "gaussian": "nats*", "logistic": "bits/dim"}


@app.command("models")
def models_cmd(
    name: str = typer.Argument(None, help="Show this model in full [default: list them all]."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the shipped and user-trained models, or show one in full."""
    if name is not None:
        _show(find(name), as_json)
        return
    entries = list_models()
    if as_json:
        print(json.dumps([e.summary() for e in entries], indent=2))
        return
    roles = _roles()
    names = [e.name + roles.get(e.name, ("", ""))[0] + (" (user)" if e.kind == "user" else "")
             for e in entries]
    width = max([22, *map(len, names)])
    print(f"{'name':<{width}} {'frame':<11} {'arch/likelihood':<15} {'K':>3} {'params':>6} "
          f"{'size':>6} {'-ELBO':>14} {'PSNR':>5}")
    for e, name in zip(entries, names, strict=True):
        c = e.config
        arch = c.arch if c.arch == "ae" else f"{c.arch}/{c.likelihood}"
        print(f"{name:<{width}} {c.frame_text:<11} {arch:<15} {c.latent_dim:>3} "
              f"{e.num_params / 1e6:>5.1f}M {_size(e.path):>6} {_elbo(e):>14} "
              f"{_num(e.metrics.get('psnr'), 1):>5}")
    legend = ("; ".join(f"{mark} {what}" for mark, what in sorted(set(roles.values())))
              + ". frame: what every image is coded as (a digit model's 28x28 gray: MNIST's crop, "
              "fit and centre). -ELBO on each model's test images (the shipped: the 10,000 "
              "MNIST test digits), in nats per image (nats*: without "
              "the Gaussian's constant) or bits per dimension; PSNR in dB. `vaezip models "
              "NAME` shows one model in full.")
    print("\n" + textwrap.fill(legend, 80))


def _roles() -> dict[str, tuple[str, str]]:
    return {DEFAULT_MODEL: ("*", "default for encode"),
            GENERATIVE_MODEL: ("+", "default for sample and plot"),
            LOSSLESS_MODEL: ("#", "default for encode --lossless"),
            NEAR_LOSSLESS_MODEL: ("~", "default for encode --max-error")}


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f}MB"


def _num(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _elbo(e) -> str:
    unit = UNITS.get(e.config.likelihood)
    if unit is None or "neg_elbo" not in e.metrics:
        return "-"
    if unit == "bits/dim":
        return f"{e.metrics.get('bits_per_dim', 0):.3f} {unit}"
    return f"{e.metrics['neg_elbo']:.2f} {unit}"


def _show(e, as_json: bool) -> None:
    """One model: what it is, how it was trained, how it scores, and what it weighs."""
    summary = {**e.summary(), "file_bytes": e.path.stat().st_size}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    c = e.config
    role = _roles().get(e.name, ("", ""))[1]
    units = e.codec.get("sigma_units")
    coded = f"yes, {len(units)} dims of sigma" if units else "no (float .vz only)"
    lines = [
        f"{e.name} ({e.kind}{', ' + role if role else ''})",
        f"  file       {e.path} ({summary['file_bytes']:,} bytes)",
        f"  sha256     {e.sha256}",
        f"  model      {c.arch}, {c.likelihood} likelihood, {c.latent_dim} latent dims, "
        f"hidden {', '.join(map(str, c.hidden))}"
        + (f", {c.mixture} mixture components" if c.mixture else "")
        + (f", pixels in {c.groups} groups" if c.groups else "")
        + (f", {c.classes} classes" if c.classes else "") + f"; {e.num_params:,} parameters",
        f"  frame      {c.frame_text}, {c.framing} framing",
        f"  coded .vz  {coded}",
        "  nondigit   " + (f"warns above squared distance {e.nondigit_threshold:.1f} from the "
                           f"nearest of {len(e.nondigit.class_means)} training classes "
                           f"({len(e.nondigit.features)} features)"
                           if e.nondigit else "no detector: encoding gives no such warning"),
        _wrap("  training   ", ", ".join(f"{k} {v}" for k, v in sorted(e.training.items())
                                         if k not in ("machine", "torch"))),
        _wrap("  test       ", ", ".join(f"{k} {_num(v, 4) if isinstance(v, float) else v}"
                                         for k, v in sorted(e.metrics.items()))),
    ]
    print("\n".join(lines))


def _wrap(label: str, text: str) -> str:
    return textwrap.fill(text, 80, initial_indent=label, subsequent_indent=" " * len(label))
