"""Names that travel in files: model names (registry, .vz headers) and stored image names.

Both become paths somewhere (weights/NAME.safetensors, DIR/NAME.png on decode), so both are
checked the same way everywhere they are read. No imports beyond the standard library.
"""

from __future__ import annotations

import re

from vaezip.errors import FormatError

# Lower-case words joined by single '-', '_' or '.': no slashes, no '..', no hidden files,
# so a name can never point outside the registry's folders.
MODEL_NAME_RE = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")
MAX_MODEL_NAME = 64
MAX_FILE_NAME = 1024


# Format 8: a single coded file may name a shipped model by one upper-case letter instead of
# its registry name (the name costs more header bytes than a digit's code). Upper case can
# never be a registry name, so the two cannot be confused. An alias, once given, is never
# reassigned: add new ones, never change these.
SHORT_NAMES = {
    "A": "mnist-ae-2d",
    "B": "mnist-bvae-32d",
    "C": "mnist-cvae-8d",
    "E": "mnist-vae-2d-bce",
    "F": "mnist-vae-lossless-16g-m5-60e",
    "G": "mnist-vae-lossless-16g",
    "H": "mnist-vae-lossless-local",
    "L": "mnist-vae-lossless",
    "M": "mnist-vae-2d-mse",
    "N": "mnist-vae-binary",
    "T": "mnist-vae-lossless-lite",
    "V": "mnist-vae-16d",
}
SHORT_NAME_OF = {model: short for short, model in SHORT_NAMES.items()}


def is_model_name(name) -> bool:
    return isinstance(name, str) and len(name) <= MAX_MODEL_NAME and bool(MODEL_NAME_RE.match(name))


# A plain relative path: 1-1024 characters, no control characters or backslashes, and
# '/'-separated parts none of which is empty, '.' or '..'. One regex: archives check
# every member's name, and there may be millions.
_SAFE_NAME = re.compile(r"(?!\.\.?(?:/|$))[^/\\\x00-\x1f]+(?:/(?!\.\.?(?:/|$))[^/\\\x00-\x1f]+)*")


def is_safe_file_name(name) -> bool:
    """A stored file name must be a plain relative path: it becomes a path on decode."""
    return (isinstance(name, str) and len(name) <= MAX_FILE_NAME
            and _SAFE_NAME.fullmatch(name) is not None)


def check_name(name, where: str) -> str:
    """A stored file name must be a plain relative path: it becomes a path on decode."""
    if not is_safe_file_name(name):
        raise FormatError(f"{where}: unsafe or invalid file name {name!r}")
    return name
