"""Typed errors. Library code raises these; only the CLI prints them and exits.

Each message should tell the user what went wrong *and* what to do about it.
"""


class VaezipError(Exception):
    """Base class for every error a user can cause and fix."""

    exit_code = 1  # bad input


class UsageError(VaezipError):
    """The command line itself is wrong (conflicting or impossible options)."""

    exit_code = 2


class UnknownModelError(VaezipError):
    """A model name that is not in the registry (or is not a valid name at all)."""


class ModelFileError(VaezipError):
    """A weights or checkpoint file that is missing, unreadable, or fails its hash."""


class ModelExistsError(VaezipError):
    """Refusing to overwrite an existing model without --force."""


class DataUnavailableError(VaezipError):
    """A dataset that is not on disk and could not be downloaded."""


class OutputExistsError(VaezipError):
    """Refusing to overwrite an existing file without --force."""


class ImageError(VaezipError):
    """An input image that cannot be read or used."""


class FormatError(VaezipError):
    """A .vz file that is not valid: wrong format, version, shape, values or metadata."""
