"""vaezip list and vaezip test: what a .vz holds, and whether it is intact."""

from __future__ import annotations

import json
import sys

import typer

from vaezip.archive_tools import describe, verify
from vaezip.cli._app import app
from vaezip.frames.sources import collect_sources


@app.command("list")
def list_cmd(
    inputs: list[str] = typer.Argument(..., help=".vz files or directories of them."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show what .vz files hold: members, their sizes, the model, mode and quality."""
    reports = [describe(s.path, s.label) for s in collect_sources(inputs, suffixes={".vz"})]
    if as_json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=1))
        return
    out = sys.stdout
    for r in reports:
        setting = (f"max error {'/'.join(map(str, r['max_error']))}"
                   + (" as seen" if r["visible"] else "") if r["max_error"]
                   else f"quality {'/'.join(map(str, r['quality'])) or '-'}")
        print(f"{r['file']}: {r['images']} image{'s' * (r['images'] != 1)}, {r['bytes']:,} bytes "
              f"({r['bytes'] / r['images']:.1f} B/image), model {r['model']}, {r['mode']}, "
              f"{setting}, format {r['format']}, {len(r['frames'])} frame"
              f"{'s' * (len(r['frames']) != 1)}" + (
                  f", {r['guarded']} guarded (every pixel within "
                  f"{'/'.join(map(str, r['guard_max_error']))})" if r["guarded"] else ""),
              file=out)
        width = max((len(m["name"]) for m in r["members"]), default=4)
        for m in r["members"]:
            print(f"  {m['name']:<{width}}  {m['width']}x{m['height']} {m['mode']:<4} "
                  f"frame {m['frame']}"
                  + (f"  not like a digit ({m['nondigit']:.2f})" if "nondigit" in m else "")
                  + (f"  guarded ({m['guarded']})" if "guarded" in m else ""),
                  file=out)


@app.command("test")
def test_cmd(
    inputs: list[str] = typer.Argument(..., help=".vz files or directories of them."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the damaged ones."),
) -> None:
    """Check every checksum of .vz files, writing nothing; exit 1 naming what is damaged."""
    damaged = False
    for source in collect_sources(inputs, suffixes={".vz"}):
        lost, images = verify(source.path, source.label)
        if lost:
            damaged = True
            print(f"vaezip: damaged: {source.label}: {len(lost)} member"
                  f"{'s' * (len(lost) != 1)} cannot be recovered: {', '.join(lost[:10])}"
                  + (", ..." if len(lost) > 10 else ""), file=sys.stderr)
        elif not quiet:
            print(f"{source.label}: ok ({images} image{'s' * (images != 1)})")
    if damaged:
        raise typer.Exit(1)
