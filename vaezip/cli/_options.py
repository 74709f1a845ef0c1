"""Options that several commands share, declared once (gzip's and zstd's conventions)."""

from __future__ import annotations

import typer

FORCE = typer.Option(False, "--force", "-f", help="Overwrite existing outputs.")
STDOUT = typer.Option(False, "--stdout", "-c", help="Write to standard output (as -o -).")
REMOVE = typer.Option(
    False, "--rm", help="Remove the inputs once their outputs are written and verified.")
VERBOSE = typer.Option(False, "--verbose", "-v", help="A line for every file.")
# Every core by default, as xz 5.4 does: an archive of more than one frame (1,024 images)
# is split among processes; smaller jobs run in one. The bytes are the same for any count.
THREADS = typer.Option(
    0, "--threads", "-T",
    help="Processes for archives (0: every core); the bytes are the same for any.")
