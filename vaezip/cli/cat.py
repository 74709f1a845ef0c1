"""vaezip cat: framed archives joined into one, frame by frame, without re-encoding."""

from __future__ import annotations

import typer

from vaezip.archive_tools import concatenate
from vaezip.cli._app import app
from vaezip.cli._options import FORCE
from vaezip.cli._paths import check_targets


@app.command("cat")
def cat_cmd(
    inputs: list[str] = typer.Argument(..., help="Framed archives (.vz from encode --pack), "
                                       "in the order their members should come."),
    output: str = typer.Option(..., "-o", "--output", help="The joined archive."),
    force: bool = FORCE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
) -> None:
    """Join archives: shards packed on many machines become one archive, with every member
    in order and nothing re-encoded. They must be made with one model and hold no member
    name twice."""
    check_targets([output], inputs, force)
    summary = concatenate(inputs, output, force=force)
    if not quiet:
        print(f"{output}: {summary.images:,} images in {summary.frames} frames from "
              f"{len(inputs)} archives, {summary.bytes_out:,} bytes "
              f"({summary.bytes_in:,} in)")
