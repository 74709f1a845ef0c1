"""The `vaezip` command line: options, output, exit codes. No math, no file formats.

Results go to stdout; progress, logs and errors to stderr. Every error a user can
cause is a VaezipError, printed as one line with exit code 1 (2 for bad usage);
VAEZIP_DEBUG=1 shows the traceback instead. torch is imported only by commands that
need it, so `vaezip --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from vaezip import __version__
from vaezip.errors import UsageError, VaezipError

app = typer.Typer(
    name="vaezip",
    help="Compress images with variational autoencoders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEBUG_ENV = "VAEZIP_DEBUG"
STDIO = "-"  # as an input or output: standard input / standard output


# --- output helpers ------------------------------------------------------------------


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _stdout_console():
    """Results. Piped into a file or another program, tables are not folded to 80 columns."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _table(title: str, **kwargs):
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", **kwargs)


def log(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def set_threads(threads: int | None) -> None:
    """Use every core we are allowed on, unless told otherwise: two torch processes on
    the same cores thrash, so one process should own them deliberately."""
    import torch

    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, threads or available or 1))


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# --- commands ------------------------------------------------------------------------


def _version_callback(value: bool) -> None:
    if value:
        print(f"vaezip {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """Compress images with variational autoencoders."""


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

    table = _table("vaezip models (test metrics on the 10,000 MNIST test images)")
    table.add_column("name", no_wrap=True)
    table.add_column("arch / likelihood", no_wrap=True)
    table.add_column("latent", justify="right")
    table.add_column("params", justify="right")
    table.add_column("-ELBO", justify="right")
    table.add_column("binarised -ELBO", justify="right")
    table.add_column("PSNR", justify="right")
    table.add_column("where", overflow="fold")
    home = str(Path.home())
    for e in entries:
        c = e.config
        where = "shipped" if e.kind == "shipped" else str(e.path).replace(home, "~", 1)
        table.add_row(
            e.name, c.arch if c.arch == "ae" else f"{c.arch} / {c.likelihood}",
            str(c.latent_dim), f"{e.num_params / 1e6:.2f}M", _fmt(e.metrics.get("neg_elbo")),
            _fmt(e.metrics.get("binarized_neg_elbo")), _fmt(e.metrics.get("psnr")), where,
        )
    _stdout_console().print(table)


def _parse_hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(
            f"--hidden must be comma-separated widths like 512,512, not {text!r}"
        ) from None
    if not widths:
        raise UsageError("--hidden needs at least one width")
    return widths


def _train_callbacks(quiet: bool, name: str):
    """A rich progress bar (loss, epoch, ETA) on a terminal; one line per epoch otherwise."""
    from vaezip.train import TrainCallbacks

    if not show_progress(quiet):
        def on_epoch(r):
            log(f"{name}: epoch {r.epoch}/{r.epochs} loss {r.loss:.3f} (recon {r.recon:.3f}, "
                f"KL {r.kl:.3f}) {r.seconds:.1f}s", quiet)
        return TrainCallbacks(on_epoch=on_epoch), None

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
        console=_stderr_console(), transient=False,
    )
    state = {}

    def on_start(first_epoch, epochs, batches):
        state["task"] = progress.add_task(name, total=epochs * batches,
                                          completed=first_epoch * batches, status="")
        state["epochs"] = epochs

    def on_batch(epoch, batch, loss):
        progress.update(state["task"], advance=1,
                        status=f"epoch {epoch}/{state['epochs']} loss {loss:8.3f}")

    def on_epoch(r):
        progress.console.print(f"epoch {r.epoch}/{r.epochs}: loss {r.loss:.3f} "
                               f"(recon {r.recon:.3f}, KL {r.kl:.3f}) {r.seconds:.1f}s")

    return TrainCallbacks(on_start=on_start, on_batch=on_batch, on_epoch=on_epoch), progress


def run_training_job(name, config, settings, data_dir, checkpoint, out_path, *, resume, force,
                     device, limit, store_dtype, quiet, download=True):
    """Shared by `vaezip train` and `make weights`: the job with its progress display."""
    from vaezip.train import train_and_register

    callbacks, progress = _train_callbacks(quiet, name)
    kwargs = dict(resume=resume, force=force, device=device, limit=limit,
                  store_dtype=store_dtype, callbacks=callbacks, download=download)
    if progress is None:
        return train_and_register(name, config, settings, data_dir, checkpoint, out_path, **kwargs)
    with progress:
        return train_and_register(name, config, settings, data_dir, checkpoint, out_path, **kwargs)


@app.command("train")
def train_cmd(
    name: str = typer.Option(..., "--name", help="Registry name for the trained model."),
    arch: str = typer.Option("vae", "--arch", help="ae | vae | cvae (conditional on the digit)"),
    likelihood: str = typer.Option(
        "bernoulli", "--likelihood",
        help="bernoulli | gaussian | logistic (256 levels, for --lossless)"),
    latent_dim: int = typer.Option(16, "--latent-dim", help="Latent dimensions."),
    hidden: str = typer.Option("512,512", "--hidden", help="Hidden widths, input side first."),
    epochs: int = typer.Option(None, "--epochs", help="Epochs in all [default: 20]."),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate (cosine-decayed)."),
    seed: int = typer.Option(0, "--seed"),
    binarize: bool = typer.Option(False, "--binarize",
                                  help="Train on dynamically binarised pixels."),
    kl_warmup: int = typer.Option(0, "--kl-warmup", help="Epochs to ramp the KL weight 0->1."),
    beta: float = typer.Option(1.0, "--beta", help="Weight of the KL term (beta-VAE); <1 "
                               "keeps more detail at a higher rate."),
    dataset: str = typer.Option(
        "mnist", "--dataset",
        help="mnist | fashion-mnist | kmnist | emnist-digits | folder (images in --data-dir)."),
    precision: str = typer.Option(
        "auto", "--precision", help="auto | fp32 | bf16 | fp16 (mixed precision on CUDA)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where MNIST is (or goes)."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Fetch MNIST into --data-dir when it is missing."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | mps"),
    threads: int = typer.Option(None, "--threads", help="CPU threads [default: all cores]."),
    limit: int = typer.Option(None, "--limit", help="Train on the first N images only."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run."),
    force: bool = typer.Option(False, "--force", help="Replace an existing model or run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train a model on MNIST and register it under --name."""
    from vaezip.config import ModelConfig
    from vaezip.data import default_data_dir
    from vaezip.errors import ModelExistsError
    from vaezip.registry import is_shipped, user_home, user_models_dir, validate_name
    from vaezip.train import TrainSettings, checkpoint_settings

    try:
        validate_name(name)
    except VaezipError as exc:
        raise UsageError(str(exc)) from None
    if is_shipped(name):
        raise ModelExistsError(f"{name!r} is a shipped model; pick another --name")
    out_path = user_models_dir() / f"{name}.safetensors"
    checkpoint = user_home() / "checkpoints" / f"{name}.safetensors"
    if resume:
        config, settings, done = checkpoint_settings(checkpoint)
        if epochs is not None:
            settings = TrainSettings(**{**settings.__dict__, "epochs": epochs})
        log(f"resuming {name} after epoch {done} of {settings.epochs}", quiet)
    else:
        if checkpoint.exists() and not force:
            raise ModelExistsError(
                f"an unfinished run of {name!r} exists ({checkpoint}); pass --resume to "
                f"continue it or --force to start over"
            )
        if out_path.exists() and not force:
            raise ModelExistsError(
                f"model {name!r} exists ({out_path}); pass --force to replace it"
            )
        try:
            config = ModelConfig(arch=arch, likelihood=likelihood, latent_dim=latent_dim,
                                 hidden=_parse_hidden(hidden))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        settings = TrainSettings(epochs=20 if epochs is None else epochs,
                                 batch_size=batch_size, lr=lr, seed=seed, binarize=binarize,
                                 kl_warmup_epochs=kl_warmup, beta=beta, dataset=dataset,
                                 precision=precision)
    set_threads(threads)
    summary = run_training_job(
        name, config, settings, data_dir or default_data_dir(), checkpoint, out_path,
        resume=resume, force=True if resume else force, device=device, limit=limit,
        store_dtype="float32", quiet=quiet, download=download,
    )
    if summary is None:  # a torchrun process other than rank 0: rank 0 reports
        return
    m = summary["metrics"]
    if not m:
        print(f"{name}: trained ({summary['training']['seconds_per_epoch']:.1f} s/epoch), no "
              f"test split to evaluate on; saved to {summary['path']}")
        return
    headline = (f"-ELBO {m['neg_elbo']:.2f} nats" if "neg_elbo" in m
                else f"squared error {m['recon']:.2f}")
    print(f"{name}: {headline}, PSNR {m['psnr']:.2f} dB on {m['test_images']} test images; "
          f"{summary['training']['seconds_per_epoch']:.1f} s/epoch; saved to {summary['path']}")


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
    model: list[str] = typer.Option(None, "--model", "-m", help="Model(s) to evaluate."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where MNIST is (or goes)."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Fetch MNIST into --data-dir when it is missing."),
    limit: int = typer.Option(None, "--limit", help="Evaluate the first N test images."),
    iw_samples: int = typer.Option(
        1000, "--iw-samples", "-k",
        help="Importance samples for the IWAE NLL estimate; 0 skips it."),
    seed: int = typer.Option(0, "--seed", help="Seed of the posterior samples."),
    batch_size: int = typer.Option(1000, "--batch-size"),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda | mps"),
    threads: int = typer.Option(None, "--threads"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Evaluate models on the MNIST test set: -ELBO, IWAE NLL (also on binarised pixels),
    bits/dim, PSNR. Several --model give one comparison table."""
    from vaezip.data import default_data_dir, load_mnist, to_model_space
    from vaezip.evaluate import full_report
    from vaezip.registry import DEFAULT_MODEL, find, load_model
    from vaezip.train import resolve_device

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
        with _progress(f"{entry.name}: IWAE k={iw_samples}", len(images) * passes,
                       quiet or not iw_samples) as advance:
            report = full_report(net, images, iw_samples=iw_samples,
                                 on_batch=_per_pass(advance), labels=labels)
        results.append({"model": entry.name, **report})
    if as_json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    table = _table(f"MNIST test set, {len(images)} images"
                   + (f"; IWAE with k={iw_samples}" if iw_samples else ""))
    table.add_column("metric")
    for r in results:
        table.add_column(r["model"], justify="right")
    for key, label, digits in METRIC_ROWS:
        if any(key in r for r in results):
            table.add_row(label, *[_fmt(r.get(key), digits) for r in results])
    if iw_samples:
        table.add_row("IWAE time (s)", *[_fmt(r.get("iw_seconds"), 1) for r in results])
    console = _stdout_console()
    console.print(table)
    for r in results:
        if "likelihood" in r:
            console.print(f"{r['model']}: {r['likelihood']}.")


def _progress(what: str, total: int, quiet: bool, min_items: int = 1):
    """A context yielding advance(n=1) for a transient progress bar on stderr; None when
    quiet, not on a terminal, or fewer than min_items (a bar for 3 files is noise)."""
    import contextlib

    if total < min_items or not show_progress(quiet):
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    @contextlib.contextmanager
    def bar():
        columns = ("{task.description}", BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=_stderr_console(), transient=True) as progress:
            task = progress.add_task(what, total=total)
            yield lambda n=1: progress.advance(task, n)

    return bar()


def _per_pass(advance):
    """Adapt advance(n) to callbacks that report items done within repeated passes."""
    if advance is None:
        return None
    last = [0]

    def on_batch(done: int) -> None:
        advance(done - last[0] if done >= last[0] else done)  # a new pass restarts at 0
        last[0] = done

    return on_batch


@app.command("encode")
def encode_cmd(
    inputs: list[str] = typer.Argument(..., help="Image files, directories, or - for stdin."),
    output: str = typer.Option(
        None, "-o", "--output",
        help="Output .vz (one input, or --pack), directory (many inputs), or - for stdout.",
    ),
    model: str = typer.Option(
        None, "--model", "-m",
        help="Model [default: mnist-bvae-32d; with --lossless, mnist-vae-lossless]."),
    pack: bool = typer.Option(False, "--pack", help="Store all inputs in one .vz archive."),
    digit: int = typer.Option(None, "--digit", help="The digit shown (conditional models)."),
    quality: int = typer.Option(
        None, "--quality", "-Q",
        help="1-8: grid step 4 sigma (smallest) to sigma/4 (most faithful) [default: 2]."),
    float_mode: bool = typer.Option(
        False, "--float", help="Store mu and sigma as float16 instead of coding them."),
    lossless: bool = typer.Option(
        False, "--lossless",
        help="Every pixel back exactly (28x28 8-bit gray), by bits-back coding."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, warnings or summary."),
) -> None:
    """Compress images into .vz files (digit.png -> digit.vz).

    By default the latents are quantised on a grid that follows each dimension's
    posterior width and entropy-coded under the prior (a coded .vz). Models without an
    entropy model (the autoencoder) write float .vz files, as --float does.
    """
    from vaezip import codec
    from vaezip.entropy import DEFAULT_QUALITY
    from vaezip.pipeline import collect_sources, dumps_coded, encode_prepared, grid_for, prepare_all
    from vaezip.registry import DEFAULT_MODEL, find, load_inference

    sources = collect_sources(inputs)
    if lossless:
        return _encode_lossless(sources, inputs, output, model, pack, force, quiet,
                                conflicts=float_mode or quality is not None or digit is not None)
    entry = find(model or DEFAULT_MODEL)
    _check_digit(entry, digit, required=True)
    coded = not float_mode and bool(entry.codec.get("sigma_units"))
    if quality is not None and not coded:
        raise UsageError("--quality applies to coded .vz files; "
                         + ("drop --float" if float_mode else
                            f"model {entry.name!r} has no entropy model"))
    quality = DEFAULT_QUALITY if quality is None else quality
    if coded:
        grid_for(entry, quality)  # a bad --quality fails before any work
    targets = _encode_targets(inputs, sources, output, pack)
    _check_targets(targets, [s.path for s in sources], force)

    with _progress("reading", len(sources), quiet, min_items=50) as advance:
        prepared, sizes, warnings, errors = prepare_all(sources, advance)
    _report(warnings, errors, len(sources), quiet)
    net, entry = load_inference(entry)
    vz = encode_prepared(prepared, net, entry, packed=pack, digit=digit)

    def file_bytes(part: slice, packed: bool) -> bytes:
        one = codec.VzFile(vz.model, vz.model_hash, vz.mu[part], vz.sigma[part],
                           vz.images[part], packed=packed)
        return dumps_coded(one, entry, quality) if coded else codec.dumps(one)

    _write_encoded(sources, targets, sizes, pack, file_bytes, force, quiet, entry.name)


def _write_encoded(sources, targets, sizes, pack: bool, file_bytes, force: bool, quiet: bool,
                   model: str) -> None:
    """Write the archive (pack) or one file per input: file_bytes(slice of the inputs,
    packed) makes each file's bytes. Then the size summary."""
    rows = []
    if pack:
        data = file_bytes(slice(None), True)
        _write(targets[0], data, force)
        rows.append((targets[0], sum(sizes), len(data), len(sources)))
    else:
        for i, (source, target) in enumerate(zip(sources, targets, strict=True)):
            data = file_bytes(slice(i, i + 1), False)  # one image, one header
            _write(target, data, force)
            rows.append((source.label, sizes[i], len(data), 1))
    if not quiet:
        _print_size_table(rows, to_stderr=STDIO in targets, model=model)


def _encode_lossless(sources, inputs, output, model, pack, force, quiet, conflicts) -> None:
    from vaezip.pipeline import dumps_lossless, lossless_capable, read_exact_pixels
    from vaezip.registry import LOSSLESS_MODEL, find, load_inference

    if conflicts:
        raise UsageError("--lossless excludes --float, --quality and --digit")
    entry = find(model or LOSSLESS_MODEL)
    if not lossless_capable(entry.config):
        raise UsageError(f"--lossless needs a model with the 256-level likelihood (such as "
                         f"{LOSSLESS_MODEL}); {entry.name!r} is {entry.config.likelihood}")
    targets = _encode_targets(inputs, sources, output, pack)
    _check_targets(targets, [s.path for s in sources], force)
    pixels, errors = read_exact_pixels(sources)
    _report([], errors, len(sources), quiet)
    net, entry = load_inference(entry)
    names = [s.name for s in sources]
    sizes = [s.path.stat().st_size if s.path else 0 for s in sources]

    def file_bytes(part: slice, packed: bool) -> bytes:
        return dumps_lossless(pixels[part], names[part], net, entry, packed=packed)

    _write_encoded(sources, targets, sizes, pack, file_bytes, force, quiet,
                   f"{entry.name}, lossless")


def _encode_targets(inputs: list[str], sources, output: str | None, pack: bool) -> list[str]:
    if pack:
        if output:
            return [output]
        if inputs == [STDIO]:
            return [STDIO]
        if len(inputs) == 1 and Path(inputs[0]).is_dir():  # digits/ -> digits.vz
            folder = Path(inputs[0]).resolve()
            return [str(folder.with_name(folder.name + ".vz"))]
        raise UsageError("--pack needs -o ARCHIVE.vz (or - for stdout)")
    if len(sources) == 1:
        source = sources[0]
        if output:
            return [output]
        return [STDIO if source.path is None else str(source.path.with_suffix(".vz"))]
    if output == STDIO:
        raise UsageError("-o - needs a single input, or --pack")
    if output:
        return [str(Path(output) / Path(s.name).with_suffix(".vz")) for s in sources]
    return [str(s.path.with_suffix(".vz")) for s in sources]


def _check_targets(targets: list[str], inputs: list, force: bool) -> None:
    """Before any work: no two outputs alike, none an input, none existing unless --force."""
    from vaezip.fileio import check_writable

    files = [t for t in targets if t != STDIO]
    if len(set(files)) != len(files):
        dup = next(t for t in files if files.count(t) > 1)
        raise UsageError(f"two inputs would both be written to {dup}; use -o DIR or --pack")
    input_paths = {os.path.abspath(p) for p in inputs if p is not None}
    input_files = None  # (device, inode) of each input, computed once if ever needed
    for target in files:
        same = os.path.abspath(target) in input_paths
        if not same and force and os.path.exists(target):  # a link or other path to an input?
            if input_files is None:
                input_files = {_file_id(p) for p in input_paths}
            same = _file_id(target) in input_files
        if same:
            raise UsageError(f"{target}: output would overwrite its own input; use -o")
        check_writable(Path(target), force)
    if STDIO in targets and sys.stdout.isatty():
        raise UsageError("refusing to write binary data to a terminal; use -o FILE or a pipe")


def _file_id(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _write(target: str, data: bytes, force: bool) -> None:
    from vaezip.fileio import atomic_write_bytes

    if target == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic_write_bytes(Path(target), data, force=force)


def _report(warnings: list[str], errors: list[str], total: int, quiet: bool) -> None:
    """Warnings as they are; errors one line each, then fail with nothing written."""
    from vaezip.errors import ImageError

    for warning in warnings:
        log(f"vaezip: warning: {warning}", quiet)
    if not errors:
        return
    if len(errors) == 1:
        raise ImageError(errors[0])
    for error in errors:
        print(f"vaezip: error: {error}", file=sys.stderr)
    raise ImageError(f"{len(errors)} of {total} inputs failed; nothing was written")


def _print_size_table(rows, to_stderr: bool, model: str) -> None:
    console = _stderr_console() if to_stderr else _stdout_console()
    total_in = sum(r[1] for r in rows)
    total_out = sum(r[2] for r in rows)
    images = sum(r[3] for r in rows)
    if len(rows) > 20:
        console.print(f"{images} images: {total_in:,} -> {total_out:,} bytes "
                      f"({total_in / max(total_out, 1):.1f}x, {total_out / images:.1f} B/image; "
                      f"model {model})")
        return
    table = _table(f"vaezip encode ({model})")
    table.add_column("input", overflow="fold")
    for col in ("bytes in", "bytes out", "ratio"):
        table.add_column(col, justify="right", no_wrap=True)
    for label, size_in, size_out, _ in rows:
        table.add_row(str(label), f"{size_in:,}", f"{size_out:,}", f"{size_in / size_out:.1f}x")
    if len(rows) > 1:
        table.add_row("total", f"{total_in:,}", f"{total_out:,}",
                      f"{total_in / max(total_out, 1):.1f}x")
    console.print(table)


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like 256x256, not {text!r}") from None
    if not (1 <= w <= 20000 and 1 <= h <= 20000):
        raise UsageError(f"--size must be between 1x1 and 20000x20000, not {text}")
    return w, h


@app.command("decode")
def decode_cmd(
    inputs: list[str] = typer.Argument(..., help=".vz files, directories of them, or -."),
    output: str = typer.Option(
        None, "-o", "--output",
        help="Output image (one .vz), directory (archive or many), or - for stdout.",
    ),
    sample: bool = typer.Option(False, "--sample", help="Decode a draw, not the mean."),
    seed: int = typer.Option(0, "--seed", help="Seed of --sample's draw."),
    size: str = typer.Option(None, "--size", help="Output size WxH instead of the original."),
    native: bool = typer.Option(False, "--native", help="The model's own 28x28 image."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
) -> None:
    """Turn .vz files back into images (digit.vz -> digit.png)."""
    from vaezip import codec
    from vaezip.imaging import image_bytes
    from vaezip.pipeline import collect_sources, decode_latents, exact_image, load_model_for, render

    if size and native:
        raise UsageError("--size and --native exclude each other")
    out_size = _parse_size(size)
    sources = collect_sources(inputs, suffixes={".vz"})
    files = [(s, codec.loads(s.read(), s.label)) for s in sources]  # validate all first
    plans = [_decode_targets(s, vz, output, len(files)) for s, vz in files]
    _check_targets([t for plan in plans for t in plan], [s.path for s in sources], force)

    models: dict = {}
    lines = []
    for (source, vz), targets in zip(files, plans, strict=True):
        model = load_model_for(vz, source.label, models)
        if vz.pixels is not None and (sample or size or native):
            raise UsageError(f"{source.label}: a lossless file decodes to its exact pixels; "
                             f"--sample, --size and --native do not apply")
        pixels = None if vz.pixels is not None else decode_latents(vz, model, sample=sample,
                                                                   seed=seed)
        for i, target in enumerate(targets):
            image = (exact_image(vz.pixels[i]) if pixels is None
                     else render(pixels[i], vz, i, native, out_size))
            fmt = _format_for(target)
            _write(target, image_bytes(image, fmt), force)
        where = targets[0] if len(targets) == 1 else str(Path(targets[0]).parent) + "/"
        lines.append(f"{source.label} -> {where} ({len(targets)} image"
                     f"{'s' if len(targets) > 1 else ''})")
    if not quiet:
        to = sys.stderr if any(STDIO in p for p in plans) else sys.stdout
        print("\n".join(lines), file=to)


def _decode_targets(source, vz, output: str | None, n_inputs: int) -> list[str]:
    """Output paths for one .vz: a file for one image, a directory for an archive."""
    from vaezip.pipeline import decoded_name

    # Many inputs go under -o DIR by their names (relative paths inside a walked folder).
    stem = None if source.path is None else source.path.with_suffix("")
    under_output = Path(output) / Path(source.name).with_suffix("") if output else None
    if vz.packed or len(vz) > 1:
        if output == STDIO:
            raise UsageError(f"{source.label}: an archive decodes into a directory, not -")
        if output:
            folder = Path(output) if n_inputs == 1 else under_output
        elif stem is not None:
            folder = stem
        else:
            raise UsageError("an archive from standard input needs -o DIR")
        return [str(folder / decoded_name(p.name)) for p in vz.images]
    if output and n_inputs == 1:
        return [output]
    if output:
        if output == STDIO:
            raise UsageError("-o - needs a single input")
        return [str(under_output.with_suffix(".png"))]
    return [STDIO if stem is None else str(stem.with_suffix(".png"))]


def _format_for(target: str) -> str:
    suffix = Path(target).suffix.lower()
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF", ".gif": "GIF"}.get(suffix, "PNG")


@app.command("sample")
def sample_cmd(
    n: int = typer.Option(16, "-n", help="How many images to draw."),
    output: Path = typer.Option(
        None, "-o", "--output", help="PNG grid [samples.png], or directory with --no-grid."),
    model: str = typer.Option(None, "--model", "-m", help="Model [default: mnist-vae-16d]."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same images."),
    temperature: float = typer.Option(1.0, "--temperature", help="Scale of the prior draw."),
    grid: bool = typer.Option(True, "--grid/--no-grid", help="One grid, or one file each."),
    digit: int = typer.Option(None, "--digit", help="Draw this digit (conditional models; "
                                                     "without it they cycle 0-9)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
) -> None:
    """Generate new images from the model's prior."""
    if not 1 <= n <= 10_000:
        raise UsageError(f"-n must be between 1 and 10000, not {n}")
    if not 0 < temperature <= 10:
        raise UsageError(f"--temperature must be in (0, 10], not {temperature}")
    from vaezip.fileio import atomic_write_bytes, check_writable
    from vaezip.registry import GENERATIVE_MODEL, find, load_model

    entry = find(model or GENERATIVE_MODEL)
    _check_digit(entry, digit, required=False)
    output = output or Path("samples.png" if grid else "samples")
    width = len(str(n - 1))
    targets = [output] if grid else [output / f"sample-{i:0{width}d}.png" for i in range(n)]
    for target in targets:
        check_writable(target, force)
    import torch

    from vaezip.data import grid_png_bytes
    from vaezip.imaging import image_bytes, native_image

    net, entry = load_model(entry)
    gen = torch.Generator().manual_seed(seed)
    labels = _digit_labels(net, n, digit)
    with torch.inference_mode():
        images = net.decode(net.prior_sample(n, gen, temperature), labels)  # [n, D]
    side = net.config.image_side
    images = images.reshape(n, side, side)
    what = f"{n} samples" + ("" if digit is None else f" of the digit {digit}")
    if grid:
        png = grid_png_bytes(images, nrow=min(n, 8))
        atomic_write_bytes(output, png, force=force)
        print(f"{output}: {what} from {entry.name} (seed {seed}), {len(png)} bytes")
        return
    for target, image in zip(targets, images.numpy(), strict=True):
        atomic_write_bytes(target, image_bytes(native_image(image)), force=force)
    print(f"{output}/: {what} from {entry.name} (seed {seed})")


PLOT_KINDS = ("recon", "latent", "manifold", "samples", "interpolate")


@app.command("plot")
def plot_cmd(
    kind: str = typer.Argument(..., help="recon | latent | manifold | samples | interpolate"),
    inputs: list[str] = typer.Argument(None, help="interpolate: two .vz files, A and B."),
    model: str = typer.Option(None, "--model", "-m", help="Model [default: mnist-vae-16d]."),
    output: Path = typer.Option(None, "-o", "--output", help="PNG [KIND-MODEL.png]."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where MNIST is (recon, latent)."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Fetch MNIST into --data-dir when it is missing."),
    n: int = typer.Option(None, "-n", help="Images (recon 16, samples 64) or grid side "
                                           "(manifold 20) or steps (interpolate 10)."),
    limit: int = typer.Option(None, "--limit", help="latent: the first N test images."),
    per_digit: bool = typer.Option(False, "--per-digit", help="latent: a panel per digit."),
    spherical: bool = typer.Option(False, "--spherical",
                                   help="interpolate along the great circle, not the line."),
    seed: int = typer.Option(0, "--seed", help="samples: the prior draw."),
    digit: int = typer.Option(None, "--digit", help="manifold, samples: this digit's style "
                                                     "space (conditional models)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite the output."),
) -> None:
    """Draw the post's figures: recon, latent, manifold, samples, interpolate."""
    from vaezip.fileio import atomic_write_bytes, check_writable
    from vaezip.registry import GENERATIVE_MODEL, find

    if kind not in PLOT_KINDS:
        raise UsageError(f"unknown plot {kind!r}; choose one of {', '.join(PLOT_KINDS)}")
    if (kind == "interpolate") != bool(inputs):
        raise UsageError("interpolate takes two .vz files (A B); other plots take none"
                         if kind != "interpolate" else "interpolate needs two .vz files: A B")
    if n is not None and not 1 <= n <= 400:
        raise UsageError(f"-n must be between 1 and 400, not {n}")
    entry = find(model or GENERATIVE_MODEL)
    if digit is not None and kind not in ("manifold", "samples"):
        raise UsageError("--digit goes with the manifold and samples plots")
    _check_digit(entry, digit, required=False)
    codes = None
    if kind == "interpolate":
        codes, entry = _interpolation_ends(inputs, model)
    output = output or Path(f"{kind}-{entry.name}.png")
    check_writable(output, force)

    from vaezip import plots
    from vaezip.registry import load_model

    net, entry = load_model(entry)
    if kind in ("recon", "latent"):
        from vaezip.data import default_data_dir, load_mnist, to_model_space

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
                                digit=codes[2])
    atomic_write_bytes(output, png, force=force)
    print(f"{output}: {kind} of {entry.name}, {len(png):,} bytes")


def _check_digit(entry, digit: int | None, required: bool) -> None:
    """--digit goes with conditional models, and encode needs it for them."""
    classes = entry.config.classes
    if digit is not None and not classes:
        raise UsageError(f"--digit needs a conditional model (such as mnist-cvae-8d); "
                         f"{entry.name} is not one")
    if digit is not None and not 0 <= digit < classes:
        raise UsageError(f"--digit must be between 0 and {classes - 1}, not {digit}")
    if required and classes and digit is None:
        raise UsageError(f"{entry.name} is conditional: say which digit the images show "
                         f"with --digit D")


def _digit_labels(net, n: int, digit: int | None):
    """Labels for n draws from a conditional model: the digit, or 0-9 in turn."""
    import torch

    if not net.config.conditional:
        return None
    if digit is not None:
        return torch.full((n,), digit)
    return torch.arange(n) % net.config.classes


def _interpolation_ends(inputs: list[str], model: str | None):
    """The latent codes (posterior means of each file's first image) of A.vz and B.vz,
    and A's digit (for a conditional model)."""
    import torch

    from vaezip import codec
    from vaezip.pipeline import collect_sources, load_model_for

    if len(inputs) != 2:
        raise UsageError(f"interpolate needs exactly two .vz files, not {len(inputs)}")
    sources = collect_sources(inputs, suffixes={".vz"})
    files = [codec.loads(s.read(), s.label) for s in sources]
    if files[0].model != files[1].model:
        raise UsageError(f"{inputs[0]} and {inputs[1]} were made by different models "
                         f"({files[0].model}, {files[1].model})")
    if model and model != files[0].model:
        raise UsageError(f"the .vz files were made by {files[0].model}, not {model}")
    for source, vz in zip(sources, files, strict=True):
        load_model_for(vz, source.label, {})  # installed, same weights, same latent size
    from vaezip.registry import find

    a, b = (torch.from_numpy(vz.mu[0]) for vz in files)
    return (a, b, files[0].images[0].digit), find(files[0].model)


# --- the one crash boundary ----------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        app(args=argv, prog_name="vaezip")
    except VaezipError as exc:
        if debug:
            raise
        print(f"vaezip: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("vaezip: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, unless debugging
        if debug:
            raise
        print(f"vaezip: internal error: {type(exc).__name__}: {exc} "
              f"(run with {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        sys.exit(1)
