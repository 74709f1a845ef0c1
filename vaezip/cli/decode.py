"""vaezip decode: .vz files -> images (an archive -> a directory)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import typer

from vaezip.archives import cores, unpack
from vaezip.cli._app import app
from vaezip.cli._options import FORCE, REMOVE, STDOUT, THREADS, VERBOSE
from vaezip.cli._paths import (
    archive_folder,
    check_targets,
    decode_targets,
    parse_size,
    remove_inputs,
)
from vaezip.errors import UsageError
from vaezip.format import container
from vaezip.format.archive import ArchiveReader, open_vz
from vaezip.frames.sources import STDIO, Source, collect_sources
from vaezip.pipeline import DecodeOptions, ModelCache, decode_to_files


@app.command("decode")
def decode_cmd(
    inputs: list[str] = typer.Argument(..., help=".vz files, directories of them, or -."),
    output: str = typer.Option(
        None, "-o", "--output",
        help="Output image (one .vz), directory (archive or many), or - for stdout "
        "[default: next to each .vz, named after it].",
    ),
    sample: bool = typer.Option(False, "--sample", help="Decode a draw, not the mean."),
    seed: int = typer.Option(0, "--seed", help="Seed of --sample's draw."),
    size: str = typer.Option(None, "--size", help="Output size WxH [default: the original size]."),
    native: bool = typer.Option(False, "--native", help="The model's own 28x28 image."),
    member: list[str] = typer.Option(
        None, "--member", help="Only this member of an archive, repeatable [default: all]."),
    salvage: bool = typer.Option(
        False, "--salvage", help="Write every intact member of a damaged archive (exit 1)."),
    threads: int = THREADS,
    stdout: bool = STDOUT,
    remove: bool = REMOVE,
    force: bool = FORCE,
    verbose: bool = VERBOSE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
) -> None:
    """Turn .vz files back into images (digit.vz -> digit.png; an archive -> a directory)."""
    if size and native:
        raise UsageError("--size and --native exclude each other")
    options = DecodeOptions(sample=sample, seed=seed, native=native, size=parse_size(size))
    if threads < 0:
        raise UsageError(f"--threads must be 0 (every core) or more, not {threads}")
    if stdout and output not in (None, STDIO):
        raise UsageError("-c writes to standard output; it excludes -o FILE")
    output = STDIO if stdout else output
    sources = [_spooled(s) if s.path is None else s
               for s in collect_sources(inputs, suffixes={".vz"})]
    try:
        _decode(sources, output, options, member, salvage, threads, remove, force, verbose,
                quiet)
    finally:  # a framed archive read from stdin was spooled to a temp file
        for source in sources:
            if source.label == STDIN_LABEL and source.path is not None:
                source.path.unlink(missing_ok=True)


def _decode(sources, output, options, member, salvage, threads, remove, force, verbose,
            quiet) -> None:
    opened = [(s, open_vz(s.path, s.read() if s.path is None else None, s.label))
              for s in sources]  # every file validated before anything is written
    with contextlib.ExitStack() as archives:  # closed however this ends (unpack closes too)
        for _, vz in opened:
            if isinstance(vz, ArchiveReader):
                archives.callback(vz.close)
        framed = [(s, vz) for s, vz in opened if isinstance(vz, ArchiveReader)]
        if (member or salvage) and len(framed) != len(sources):
            raise UsageError("--member and --salvage go with framed archives (vaezip encode "
                             "--pack writes them)")
        files = [(s, vz) for s, vz in opened if not isinstance(vz, ArchiveReader)]
        plans = [decode_targets(s, vz, output, len(sources)) for s, vz in files]
        check_targets([t for plan in plans for t in plan], [s.path for s in sources], force)

        lines, images, failed, written = [], 0, False, []
        for source, reader in framed:
            line, count, lost, folder = _unpack(source, reader, output, len(sources), member,
                                                salvage, threads, force, options)
            lines.append(line)
            images += count
            written.append(folder)
            failed |= lost
        models = ModelCache()
        for (source, vz), targets in zip(files, plans, strict=True):
            decode_to_files(vz, source.label, targets, options, models, force)
            written += targets
            images += len(targets)
            lines.append(f"{source.label} -> {_where(targets)}")
        if remove and not failed:
            remove_inputs([s for s in sources if s.label != STDIN_LABEL],
                          [t for t in written if not isinstance(t, Path)])
        if not quiet and lines:
            to = sys.stderr if any(STDIO in p for p in plans) else sys.stdout
            if len(lines) > 1 and not verbose:  # as gzip: a total, not a line per file
                lines = [f"{len(lines)} files -> {images} image{'s' * (images != 1)}"]
            print("\n".join(lines), file=to)
        if failed:
            raise typer.Exit(1)


STDIN_LABEL = "<stdin>"


def _spooled(source):
    """Standard input, read once: its bytes, or for a framed archive (read frame by frame
    from a file) a temporary file holding them."""
    import tempfile

    data = source.read()
    if not container.is_framed_bytes(data):
        return Source(None, source.name, source.label, data)
    with tempfile.NamedTemporaryFile(suffix=".vz", delete=False) as handle:
        handle.write(data)
    return Source(Path(handle.name), source.name, source.label)


def _where(targets: list[str]) -> str:
    """Where a file's images went: the file, or the folder(s) of an archive's members."""
    if len(targets) == 1:
        return f"{targets[0]} (1 image)"
    return _folders(Path(targets[0]).parent, {str(Path(t).parent) for t in targets},
                    len(targets))


def _folders(top: Path, folders: set[str], images: int) -> str:
    spread = f" in {len(folders)} folders" if len(folders) > 1 else ""
    return f"{top}/ ({images} image{'s' * (images != 1)}{spread})"


def _unpack(source, reader, output, n_inputs, members, salvage, threads, force, options):
    """A framed archive into its directory, frame by frame (packing.unpack): (summary line,
    images written, whether members were lost, the directory)."""
    if source.label == STDIN_LABEL and not output:
        raise UsageError("an archive from standard input needs -o DIR")
    folder = archive_folder(source, output, n_inputs)
    summary = unpack(source.path, folder, members=members, salvage=salvage,
                     threads=threads or cores(), force=force, options=options,
                     label=source.label, reader=reader)
    line = f"{source.label} -> {_folders(folder, summary.folders, summary.written)}"
    for name in summary.lost:
        print(f"vaezip: lost: {source.label}: {name}", file=sys.stderr)
    if summary.lost:
        line = line[:-1] + f"; {len(summary.lost)} lost)"
    return line, summary.written, bool(summary.lost), folder
