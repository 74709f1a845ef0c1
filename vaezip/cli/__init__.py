"""The `vaezip` command line: one module per command. Each parses its options, makes one
library call, and prints. No math and no file formats here.

Results go to stdout; progress, logs and errors to stderr. Every error a user can cause
is a VaezipError, printed as one line with exit code 1 (2 for bad usage); library errors
name options as the Python API does, and FLAGS maps them to this CLI's flags.
VAEZIP_DEBUG=1 shows the traceback instead. torch is imported only by commands that need
it, so `vaezip --help` stays fast.
"""

from __future__ import annotations

import os
import sys

from vaezip.cli import (  # noqa: F401 (each module registers its commands)
    cat,
    decode,
    encode,
    evaluate,
    listing,
    models,
    plot,
    sample,
    train,
)
from vaezip.cli._app import app
from vaezip.errors import InputErrors, OptionError, VaezipError

DEBUG_ENV = "VAEZIP_DEBUG"

# Library option names (vaezip.compress's keywords, TrainSettings' fields) -> flags.
FLAGS = {
    "quality": "--quality", "lossless": "--lossless", "float_latents": "--float",
    "digit": "--digit", "model": "--model", "sample": "--sample", "size": "--size",
    "native": "--native", "epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr",
    "precision": "--precision", "kl_warmup_epochs": "--kl-warmup", "beta": "--beta",
    "device": "--device", "dataset": "--dataset", "mode": "--float/--lossless",
    "max_error": "--max-error", "visible": "--visible", "dropout": "--dropout",
}


def main(argv: list[str] | None = None) -> None:
    """The one crash boundary."""
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        app(args=argv, prog_name="vaezip")
    except VaezipError as exc:
        if debug:
            raise
        message = exc.render(FLAGS) if isinstance(exc, OptionError) else str(exc)
        if isinstance(exc, InputErrors) and len(exc.messages) > 1:  # each, then the count
            for line in exc.messages:
                print(f"vaezip: error: {line}", file=sys.stderr)
        print(f"vaezip: error: {message}", file=sys.stderr)
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
