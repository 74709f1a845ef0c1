"""vaezip eval: test-set metrics of one or more models."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vaezip.cli._app import app
from vaezip.cli._output import fmt, per_pass, progress, stdout_console, table
from vaezip.errors import UsageError
from vaezip.models.registry import DEFAULT_MODEL, find, load_model
from vaezip.training.datasets import default_data_dir, load_mnist, to_model_space
from vaezip.training.evaluate import full_report
from vaezip.training.loop import resolve_device, set_threads

METRIC_ROWS = [
    ("neg_elbo", "-ELBO (nats/image)", 2),
    ("recon", "reconstruction (nats/image)", 2),
    ("kl", "KL (nats/image)", 2),
    ("bits_per_dim", "-ELBO bits/dim", 3),
    ("iw_nll", "IWAE NLL (nats/image)", 2),
    ("iw_bits_per_dim", "IWAE NLL bits/dim", 3),
    ("binarized_neg_elbo", "binarised: -ELBO (nats/image)", 2),
    ("binarized_iw_nll", "binarised: IWAE NLL (nats/image)", 2),
    ("binarized_iw_bits_per_dim", "binarised: IWAE NLL bits/dim", 3),
    ("psnr", "PSNR of mean recon (dB)", 2),
]


@app.command("eval")
def eval_cmd(
    model: list[str] = typer.Option(
        None, "--model", "-m", help="Model(s) to evaluate, repeatable [default: mnist-bvae-32d]."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where MNIST is (or goes) "
        "[default: $VAEZIP_DATA, else ~/.local/share/vaezip/data]."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Fetch MNIST into --data-dir when it is missing."),
    limit: int = typer.Option(None, "--limit", help="Evaluate the first N test images "
        "[default: all 10,000]."),
    iw_samples: int = typer.Option(
        1000, "--iw-samples", "-k",
        help="Importance samples for the IWAE NLL estimate; 0 skips it."),
    seed: int = typer.Option(0, "--seed", help="Seed of the posterior samples."),
    batch_size: int = typer.Option(1000, "--batch-size", help="Test images per batch."),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda | mps"),
    threads: int = typer.Option(None, "--threads", help="CPU threads [default: all cores]."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Evaluate models on the MNIST test set: -ELBO, IWAE NLL (also on binarised pixels),
    bits/dim, PSNR. Several --model give one comparison table."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    if not 0 <= iw_samples <= 100_000:
        raise UsageError(f"--iw-samples must be between 0 and 100000, not {iw_samples}")
    names = model or [DEFAULT_MODEL]
    entries = [find(n) for n in names]  # unknown names fail before any work

    set_threads(threads)
    dev = resolve_device(device)
    test = load_mnist(data_dir or default_data_dir(), train=False, download=download)
    images = to_model_space(test.images[:limit] if limit else test.images).to(dev)
    labels = test.labels[: len(images)].to(dev)
    results = []
    for entry in entries:
        net, _ = load_model(entry, device=dev)
        passes = 2 if net.config.likelihood == "bernoulli" else 1
        with progress(f"{entry.name}: IWAE k={iw_samples}", len(images) * passes,
                       quiet or not iw_samples) as advance:
            report = full_report(net, images, iw_samples=iw_samples,
                                 on_batch=per_pass(advance), labels=labels)
        results.append({"model": entry.name, **report})
    if as_json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    t = table(f"MNIST test set, {len(images)} images"
                   + (f"; IWAE with k={iw_samples}" if iw_samples else ""))
    t.add_column("metric")
    for r in results:
        t.add_column(r["model"], justify="right")
    for key, label, digits in METRIC_ROWS:
        if any(key in r for r in results):
            t.add_row(label, *[fmt(r.get(key), digits) for r in results])
    if iw_samples:
        t.add_row("IWAE time (s)", *[fmt(r.get("iw_seconds"), 1) for r in results])
    console = stdout_console()
    console.print(t)
    for r in results:
        if "likelihood" in r:
            console.print(f"{r['model']}: {r['likelihood']}.")
