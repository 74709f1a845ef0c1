"""The Typer app that every command module registers on."""

from __future__ import annotations

import typer

from vaezip import __version__

app = typer.Typer(
    name="vaezip",
    help="Compress images with variational autoencoders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help, as gzip's and zstd's: rich markup would swallow "[default: ...]" and show
    # flags as if they took a <bool> value.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
