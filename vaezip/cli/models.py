"""vaezip models: the registry's models and their test metrics."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vaezip.cli._app import app
from vaezip.cli._output import fmt, stdout_console, table


@app.command("models")
def models_cmd(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the shipped and user-trained models."""
    from vaezip.registry import list_models

    entries = list_models()
    if as_json:
        print(json.dumps([e.summary() for e in entries], indent=2))
        return

    t = table("vaezip models (test metrics on the 10,000 MNIST test images)")
    t.add_column("name", no_wrap=True)
    t.add_column("arch / likelihood", no_wrap=True)
    t.add_column("latent", justify="right")
    t.add_column("params", justify="right")
    t.add_column("-ELBO", justify="right")
    t.add_column("binarised -ELBO", justify="right")
    t.add_column("PSNR", justify="right")
    t.add_column("where", overflow="fold")
    home = str(Path.home())
    for e in entries:
        c = e.config
        where = "shipped" if e.kind == "shipped" else str(e.path).replace(home, "~", 1)
        t.add_row(
            e.name, c.arch if c.arch == "ae" else f"{c.arch} / {c.likelihood}",
            str(c.latent_dim), f"{e.num_params / 1e6:.2f}M", fmt(e.metrics.get("neg_elbo")),
            fmt(e.metrics.get("binarized_neg_elbo")), fmt(e.metrics.get("psnr")), where,
        )
    stdout_console().print(t)
