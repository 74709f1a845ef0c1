"""Typed errors. Library code raises these; only the CLI prints them and exits.

Each message should tell the user what went wrong *and* what to do about it.
"""


class VaezipError(Exception):
    """Base class for every error a user can cause and fix."""

    exit_code = 1  # bad input


class UsageError(VaezipError):
    """The command line itself is wrong (conflicting or impossible options)."""

    exit_code = 2


class OptionError(UsageError):
    """An option out of range, or options that exclude each other. The message is a
    template whose {fields} are option names: str() fills in the library's keyword names
    (`quality`), and the CLI fills in its flags (`--quality`) through render()."""

    def __init__(self, template: str):
        self.template = template
        super().__init__(self.render({}))

    def render(self, names: dict[str, str]) -> str:
        import string

        fields = [f for _, f, _, _ in string.Formatter().parse(self.template) if f]
        return self.template.format(**{f: names.get(f, f) for f in fields})


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
