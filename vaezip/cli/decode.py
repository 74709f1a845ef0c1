"""vaezip decode: .vz files -> images (an archive -> a directory)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vaezip.cli._app import app
from vaezip.errors import UsageError
from vaezip.sources import STDIO


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
    member: list[str] = typer.Option(
        None, "--member", help="Only this member of an archive (repeatable)."),
    salvage: bool = typer.Option(
        False, "--salvage", help="Write every intact member of a damaged archive (exit 1)."),
    threads: int = typer.Option(
        1, "--threads", "-T", help="Processes for archives (0: every core)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
) -> None:
    """Turn .vz files back into images (digit.vz -> digit.png; an archive -> a directory)."""
    from vaezip import container
    from vaezip.archive import is_framed_file
    from vaezip.cli._paths import check_targets, decode_targets, parse_size
    from vaezip.pipeline import DecodeOptions, ModelCache, decode_to_files
    from vaezip.sources import collect_sources

    if size and native:
        raise UsageError("--size and --native exclude each other")
    options = DecodeOptions(sample=sample, seed=seed, native=native, size=parse_size(size))
    if threads < 0:
        raise UsageError(f"--threads must be 0 (every core) or more, not {threads}")
    sources = collect_sources(inputs, suffixes={".vz"})
    framed = [s for s in sources if s.path is not None and is_framed_file(s.path)]
    if (member or salvage) and len(framed) != len(sources):
        raise UsageError("--member and --salvage go with framed archives (vaezip encode "
                         "--pack writes them)")
    lines, failed = [], False
    for source in framed:
        lines.append(_unpack(source, output, len(sources), member, salvage, threads, force,
                             options))
        failed |= lines[-1].endswith("lost")
    sources = [s for s in sources if s not in framed]
    files = [(s, container.loads(s.read(), s.label)) for s in sources]  # validate all first
    plans = [decode_targets(s, vz, output, len(files)) for s, vz in files]
    check_targets([t for plan in plans for t in plan], [s.path for s in sources], force)

    models = ModelCache()
    for (source, vz), targets in zip(files, plans, strict=True):
        decode_to_files(vz, source.label, targets, options, models, force)
        where = targets[0] if len(targets) == 1 else str(Path(targets[0]).parent) + "/"
        lines.append(f"{source.label} -> {where} ({len(targets)} image"
                     f"{'s' if len(targets) > 1 else ''})")
    if not quiet and lines:
        to = sys.stderr if any(STDIO in p for p in plans) else sys.stdout
        print("\n".join(lines), file=to)
    if failed:
        raise typer.Exit(1)


def _unpack(source, output, n_inputs, members, salvage, threads, force, options) -> str:
    """A framed archive into its directory, frame by frame (packing.unpack)."""
    from vaezip.cli._paths import archive_folder
    from vaezip.packing import cores, unpack

    folder = archive_folder(source, output, n_inputs)
    summary = unpack(source.path, folder, members=members, salvage=salvage,
                     threads=threads or cores(), force=force, options=options)
    line = f"{source.label} -> {folder}/ ({summary.written} image{'s' * (summary.written != 1)})"
    if summary.lost:
        for name in summary.lost:
            print(f"vaezip: lost: {source.label}: {name}", file=sys.stderr)
        line += f"; {len(summary.lost)} lost"
    return line
