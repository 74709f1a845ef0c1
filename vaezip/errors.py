"""Typed errors. Library code raises these; only the CLI prints them and exits.

Each message should tell the user what went wrong *and* what to do about it.
"""


class VaezipError(Exception):
    """Base class for every error a user can cause and fix."""

    exit_code = 1  # bad input


class UsageError(VaezipError):
    """The command line itself is wrong (conflicting or impossible options)."""

    exit_code = 2


class Option(str):
    """An option's name inside an OptionError: the library keyword (`quality`), which the
    CLI shows as its flag (`--quality`)."""

    __slots__ = ()


class OptionError(UsageError):
    """An option out of range, or options that exclude each other.

    The message is a sequence of parts: plain strings, taken as they are (never as a
    template, so file names and values may hold any characters), and Option names. str()
    shows the options by their keyword names; the CLI shows its flags through render():

        OptionError(Option("quality"), f" must be 1-8, not {value}")
    """

    def __init__(self, *parts: str):
        self.parts = parts
        super().__init__(self.render({}))

    def render(self, names: dict[str, str]) -> str:
        return "".join(names.get(p, p) if isinstance(p, Option) else p for p in self.parts)


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


class OutputError(VaezipError):
    """An output that cannot be written (permissions, a full disk, a missing device)."""


class ImageError(VaezipError):
    """An input image that cannot be read or used."""


class FormatError(VaezipError):
    """A .vz file that is not valid: wrong format, version, shape, values or metadata."""


class InputErrors(ImageError):
    """Several inputs failed; each message names its file. Nothing was written."""

    def __init__(self, messages: list[str], total: int):
        self.messages = messages
        super().__init__(messages[0] if len(messages) == 1 else
                         f"{len(messages)} of {total} inputs failed; nothing was written")


class VaezipWarning(UserWarning):
    """Something the user should know that does not stop the work: an input that is
    blank, or does not look like a digit. The Python API issues these through `warnings`;
    the CLI prints them on stderr."""
