"""vaezip train: train a model and register it."""

from __future__ import annotations

from pathlib import Path

import typer

from vaezip.cli._app import app
from vaezip.cli._output import log, show_progress, stderr_console
from vaezip.errors import ModelExistsError, UsageError, VaezipError
from vaezip.models.config import ModelConfig
from vaezip.models.registry import is_shipped, user_home, user_models_dir, validate_name
from vaezip.training.checkpoint import checkpoint_settings
from vaezip.training.datasets import default_data_dir, framing_of, mnist_present
from vaezip.training.folders import image_paths, load_folder, parse_frame
from vaezip.training.loop import TrainCallbacks, set_threads
from vaezip.training.register import train_and_register
from vaezip.training.settings import TrainSettings


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
        console=stderr_console(), transient=False,
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


def _default_dataset(data_dir: Path | None) -> str:
    """folder where --data-dir holds images and no MNIST; mnist otherwise."""
    if data_dir is None or mnist_present(data_dir) or not data_dir.is_dir():
        return "mnist"
    return "folder" if any(True for _ in image_paths(data_dir)[:1]) else "mnist"


def _folder_frame(dataset: str, data_dir: Path | None, frame: str | None,
                  channels: str | None, quiet: bool) -> dict:
    """The config fields of a folder model's frame, from the data or the flags (said on
    stderr, with the split and any files skipped)."""
    if dataset != "folder":
        if frame is not None or channels is not None:
            raise UsageError("--frame and --channels are for a folder of your images "
                             "(--data-dir); the torchvision sets are 28x28 gray")
        return {}
    if data_dir is None:
        raise UsageError("--dataset folder needs --data-dir, the folder of your images")
    try:
        size, count = parse_frame(frame, channels)
    except ValueError as exc:
        raise UsageError(f"--frame/--channels: {exc}") from None
    data = load_folder(data_dir, size, count)
    log(f"frame: {data.chosen}; {len(data.train):,} training and {len(data.test):,} test "
        f"images ({data.split})" + (f"; {data.duplicates:,} duplicates left out"
                                    if data.duplicates else ""), quiet)
    if data.skipped:
        log(f"skipped {len(data.skipped):,} unreadable files: " + "; ".join(data.skipped[:3])
            + (" ..." if len(data.skipped) > 3 else ""), quiet)
    f = data.frame
    return dict(channels=f.channels, image_side=f.height,
                frame_width=0 if f.width == f.height else f.width)


def run_training_job(name, config, settings, data_dir, checkpoint, out_path, *, resume, force,
                     device, limit, store_dtype, quiet, download=True):
    """The training job with its progress display."""
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
    groups: int = typer.Option(0, "--groups", help="With --likelihood logistic: predict the "
                               "pixels in 4, 16 or 64 groups, each seeing the ones before "
                               "(better lossless rates; 0: all at once)."),
    context: int = typer.Option(0, "--context", help="With --groups: local heads that see "
                                "the pixels within this radius, shared by every position "
                                "(best for small sets of images; 0: dense heads)."),
    mixture: int = typer.Option(0, "--mixture", show_default=False,
                                help="With --likelihood logistic: logistics per pixel "
                                "[default: 3]."),
    lossless_model: bool = typer.Option(False, "--lossless-model", help="The recipe for a "
                                        "lossless model of your images: --likelihood "
                                        "logistic --groups 16 --context 2, 128 wide, "
                                        "batches of 16, 130 epochs, --mirror."),
    epochs: int = typer.Option(None, "--epochs", help="Epochs in all [default: 20]."),
    batch_size: int = typer.Option(128, "--batch-size", help="Images per step, per process."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate (cosine-decayed)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random stream (init, shuffle, "
        "noise)."),
    binarize: bool = typer.Option(False, "--binarize",
                                  help="Train on dynamically binarised pixels."),
    kl_warmup: int = typer.Option(0, "--kl-warmup", help="Epochs to ramp the KL weight 0->1."),
    beta: float = typer.Option(1.0, "--beta", help="Weight of the KL term (beta-VAE); <1 "
                               "keeps more detail at a higher rate."),
    dropout: float = typer.Option(0.0, "--dropout", help="With --groups: dropout on the "
                                  "decoder's hidden units while training (0: none)."),
    mirror: bool = typer.Option(None, "--mirror/--no-mirror", show_default=False,
                                help="Mirror a random half of each batch left-right: more "
                                "images for a small set with no left or right (icons, "
                                "sprites) [default: on with --lossless-model]."),
    dataset: str = typer.Option(
        None, "--dataset",
        help="mnist | fashion-mnist | kmnist | emnist-digits | folder (your images in "
        "--data-dir) [default: folder when --data-dir holds images and no MNIST, else mnist]."),
    frame: str = typer.Option(None, "--frame", help="A folder model's frame, WIDTHxHEIGHT "
                              "(8-128 each) [default: the size most images have]."),
    channels: str = typer.Option(None, "--channels", help="A folder model's channels: gray, "
                                 "gray+alpha, rgb or rgba [default: what most images have]."),
    precision: str = typer.Option(
        "auto", "--precision", help="auto | fp32 | bf16 | fp16 (mixed precision on CUDA)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="A folder of your images (read "
        "recursively; its train/ and test/ if it has both), or where MNIST is (or goes) "
        "[default: $VAEZIP_DATA, else ~/.local/share/vaezip/data]."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Fetch MNIST into --data-dir when it is missing."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | mps"),
    threads: int = typer.Option(None, "--threads", help="CPU threads [default: all cores]."),
    limit: int = typer.Option(None, "--limit", help="Train on the first N images only "
        "[default: all]."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run, or "
                                "with --epochs N a finished one, from its last checkpoint."),
    force: bool = typer.Option(False, "--force", help="Replace an existing model or run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train a model on MNIST, another dataset or a folder of your images, and register it
    under --name."""
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
        if done >= settings.epochs:  # a finished run: only more epochs can continue it
            raise UsageError(f"{name!r} has trained {done} epochs already; pass --epochs N "
                             f"with N above {done} to train it further")
        log(f"resuming {name} after epoch {done} of {settings.epochs}", quiet)
    else:
        if out_path.exists() and not force:
            raise ModelExistsError(
                f"model {name!r} exists ({out_path}); pass --force to replace it, or "
                f"--resume --epochs N to train it further"
            )
        if checkpoint.exists() and not force:
            raise ModelExistsError(
                f"a run of {name!r} has a checkpoint ({checkpoint}); pass --resume to "
                f"continue it or --force to start over"
            )
        dataset = dataset or _default_dataset(data_dir)
        if lossless_model:
            likelihood, groups, context = "logistic", groups or 16, context or 2
            # Small sets: many small steps (a thousand icons are 9 steps an epoch at 128).
            batch_size = batch_size if batch_size != 128 else 16
            epochs = 130 if epochs is None else epochs  # 26 minutes for 1,000 32x32 icons
            # Mirrored icons: 2.176 bits/subpixel on the Oxygen test icons, against 2.268.
            mirror = True if mirror is None else mirror
            hidden = hidden if hidden != "512,512" else "128,128"
        frame_fields = _folder_frame(dataset, data_dir, frame, channels, quiet)
        try:
            config = ModelConfig(arch=arch, likelihood=likelihood, latent_dim=latent_dim,
                                 hidden=_parse_hidden(hidden), groups=groups, context=context,
                                 mixture=mixture,
                                 framing=framing_of(dataset), **frame_fields)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        settings = TrainSettings(epochs=20 if epochs is None else epochs,
                                 batch_size=batch_size, lr=lr, seed=seed, binarize=binarize,
                                 kl_warmup_epochs=kl_warmup, beta=beta, dataset=dataset,
                                 precision=precision, dropout=dropout,
                                 mirror=bool(mirror))

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
