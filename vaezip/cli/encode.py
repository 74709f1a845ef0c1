"""vaezip encode: images -> .vz files (or one archive)."""

from __future__ import annotations

import typer

from vaezip.archives import cores, pack
from vaezip.cli._app import app
from vaezip.cli._options import FORCE, REMOVE, STDOUT, THREADS, VERBOSE
from vaezip.cli._output import (
    progress,
    show_progress,
    stderr_console,
    stdout_console,
    table,
    warn_all,
)
from vaezip.cli._paths import check_targets, encode_targets, remove_inputs
from vaezip.errors import UsageError
from vaezip.frames.sources import STDIO, collect_sources, walk_sources
from vaezip.pipeline import EncodeOptions, encode_files, read_batch


@app.command("encode")
def encode_cmd(
    inputs: list[str] = typer.Argument(..., help="Image files, directories, or - for stdin."),
    output: str = typer.Option(
        None, "-o", "--output",
        help="Output .vz (one input, or --pack), directory (many inputs), or - for stdout "
        "[default: next to each input; with --pack, DIR.vz for a directory DIR].",
    ),
    model: str = typer.Option(
        None, "--model", "-m",
        help="Model [default: mnist-bvae-32d; with --lossless, mnist-vae-lossless-local; "
        "with --max-error, mnist-vae-lossless-16g-m5-60e]."),
    pack: bool = typer.Option(False, "--pack", help="Store all inputs in one .vz archive."),
    digit: int = typer.Option(None, "--digit", help="The digit shown, for conditional models "
        "[default: none]."),
    quality: int = typer.Option(
        None, "--quality", "-Q",
        help="1-8: grid step 4 sigma (smallest) to sigma/4 (most faithful) [default: 2]."),
    float_mode: bool = typer.Option(
        False, "--float", help="Store mu and sigma as float16 instead of coding them."),
    lossless: bool = typer.Option(
        False, "--lossless",
        help="Every pixel back exactly, by bits-back coding (images in the model's frame)."),
    max_error: int = typer.Option(
        None, "--max-error", "-e",
        help="Near-lossless: every pixel back within N levels, N = 1-16 (images in the "
        "model's frame) [default: none]."),
    visible: bool = typer.Option(
        False, "--visible",
        help="With --max-error and a frame with alpha: bound what is seen (colour error "
        "times opacity within N); colour under transparent pixels is not kept."),
    no_guard: bool = typer.Option(
        False, "--no-guard",
        help="Code every digit lossy, even those the identity guard would code within 16 "
        "levels because their decoding may read as another digit."),
    append: bool = typer.Option(False, "--append",
                                help="With --pack: add the inputs to the archive already there."),
    threads: int = THREADS,
    stdout: bool = STDOUT,
    remove: bool = REMOVE,
    force: bool = FORCE,
    verbose: bool = VERBOSE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, warnings or summary."),
) -> None:
    """Compress images into .vz files (digit.png -> digit.vz).

    By default the latents are quantised on a grid that follows each dimension's
    posterior width and entropy-coded under the prior (a coded .vz). Models without an
    entropy model (the autoencoder) write float .vz files, as --float does.
    """
    if append and not pack:
        raise UsageError("--append goes with --pack")
    output = _stdout_output(stdout, output)
    if threads < 0:
        raise UsageError(f"--threads must be 0 (every core) or more, not {threads}")
    options = EncodeOptions(model=model, quality=quality, lossless=lossless,
                            float_latents=float_mode, digit=digit, max_error=max_error,
                            visible=visible, guard=not no_guard)
    codec = options.codec()
    if pack and codec.mode != "float":
        target = _pack(inputs, output, options, threads, force, append, quiet)
        if remove:
            remove_inputs(walk_sources(inputs), [target])
        return
    if append or threads > 1:
        raise UsageError("--append and --threads go with --pack (and coded latents)")
    sources = collect_sources(inputs)
    targets = encode_targets(inputs, sources, output, pack)
    check_targets(targets, [s.path for s in sources], force)
    with progress("reading", len(sources), quiet, min_items=50) as advance:
        read = read_batch(sources, codec, digit, advance)
    warn_all(read.warnings, quiet)
    plan = options.guard_plan(codec)
    rows = encode_files(sources, targets, codec, read, pack, force, plan)
    if remove:
        remove_inputs(sources, targets)
    if pack:  # the float layout's archive: its row is named by its inputs too
        rows = [(_inputs_label(inputs, len(sources)), *rows[0][1:])]
    if not quiet:
        _print_size_table(rows, to_stderr=STDIO in targets, model=_what(codec),
                          verbose=verbose, guard=plan, archive=targets[0] if pack else None)


def _stdout_output(stdout: bool, output: str | None) -> str | None:
    if stdout and output not in (None, STDIO):
        raise UsageError("-c writes to standard output; it excludes -o FILE")
    return STDIO if stdout else output


def _pack(inputs, output, options, threads: int, force: bool, append: bool, quiet: bool) -> str:
    """--pack: a framed archive, streamed frame by frame (packing.pack)."""
    target = encode_targets(inputs, [], output, True)[0]
    check_targets([target], [a for a in inputs if a != STDIO], force or append)
    total = sum(1 for _ in walk_sources(inputs)) if show_progress(quiet) else 0
    with progress("encoding", total, quiet, min_items=50) as advance:
        summary = pack(_unique_names(walk_sources(inputs), len(inputs)), target, options,
                       threads=threads or cores(), force=force, append=append,
                       on_frame=advance)
    warn_all(summary.warnings, quiet)
    if not quiet:
        codec = options.codec()
        _print_size_table([(_inputs_label(inputs, summary.images), summary.bytes_in,
                            summary.bytes_out, summary.images, summary.guarded)],
                          to_stderr=target == STDIO, model=_what(codec),
                          guard=options.guard_plan(codec), archive=target)
    return target


def _inputs_label(inputs: list[str], images: int) -> str:
    """What went into an archive, for the summary's input column: the inputs as given (the
    first three of more), and the image count."""
    names = ["stdin" if i == STDIO else i for i in inputs]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{shown} ({images} image{'s' if images != 1 else ''})"


def _what(codec) -> str:
    """The summary table's title: the model, and the mode where it is not the default."""
    if codec.mode == "near-lossless":
        return f"{codec.model.name}, every {'pixel as seen' if codec.visible else 'pixel'} " \
               f"within {codec.max_error}"
    return codec.model.name + (", lossless" if codec.mode == "lossless" else "")


def _unique_names(sources, inputs: int):
    """Names from one directory are unique; across several inputs, check."""
    if inputs == 1:
        yield from sources
        return
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise UsageError(f"two inputs would be stored as {source.name!r}; encode them "
                             f"separately")
        seen.add(source.name)
        yield source


def _print_size_table(rows, to_stderr: bool, model: str, verbose: bool = False,
                      guard=None, archive: str | None = None) -> None:
    """One row per input (label, bytes in, bytes out, images, guarded); with archive,
    one row for everything packed into it, and a column naming it."""
    console = stderr_console() if to_stderr else stdout_console()
    guarded = sum(r[4] for r in rows)
    note = (f"{guarded} of {sum(r[3] for r in rows)} digits guarded: their lossy decoding "
            f"might read as another digit, so every pixel is within {guard.guard.max_error} "
            f"levels instead" if guarded else None)
    total_in = sum(r[1] for r in rows)
    total_out = sum(r[2] for r in rows)
    images = sum(r[3] for r in rows)
    if len(rows) > 20 and not verbose:
        console.print(f"{images} images: {total_in:,} -> {total_out:,} bytes "
                      f"({total_in / max(total_out, 1):.1f}x, {total_out / images:.1f} B/image; "
                      f"model {model})")
        if note:
            console.print(note)
        return
    t = table(f"vaezip encode ({model})")
    t.add_column("input", overflow="fold")
    if archive is not None:
        t.add_column("archive", overflow="fold")
    for col in ("bytes in", "bytes out", "ratio"):
        t.add_column(col, justify="right", no_wrap=True)
    written = [] if archive is None else ["stdout" if archive == STDIO else str(archive)]
    for label, size_in, size_out, *_ in rows:
        t.add_row(str(label), *written, f"{size_in:,}", f"{size_out:,}",
                  f"{size_in / size_out:.1f}x")
    if len(rows) > 1:
        t.add_row("total", f"{total_in:,}", f"{total_out:,}",
                  f"{total_in / max(total_out, 1):.1f}x")
    console.print(t)
    if note:
        console.print(note)
