"""Where outputs go: the CLI's naming rules for encode and decode, checked before any work."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from vaezip.archive_tools import verify
from vaezip.errors import OutputError, UsageError
from vaezip.fileio import check_writable
from vaezip.frames.sources import IMAGE_SUFFIXES, STDIO
from vaezip.pipeline import decoded_name

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def check_vz_output(output: str | None) -> None:
    """encode writes .vz files: an output named like an image would mislead."""
    if output and output != STDIO and Path(output).suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(f"{output}: encode writes .vz files, not {Path(output).suffix} images; "
                         f"name it {Path(output).with_suffix('.vz')}")


def check_image_output(output: str) -> None:
    """decode writes images, in the format its name's suffix says."""
    if output != STDIO and Path(output).suffix.lower() not in IMAGE_OUTPUTS:
        raise UsageError(f"{output}: decode writes images; name the output with one of "
                         f"{', '.join(IMAGE_OUTPUTS)}")


def encode_targets(inputs: list[str], sources, output: str | None, pack: bool) -> list[str]:
    if pack or len(sources) == 1:
        check_vz_output(output)
    if pack:
        if output:
            return [output]
        if inputs == [STDIO]:
            return [STDIO]
        if len(inputs) == 1 and Path(inputs[0]).is_dir():  # digits/ -> digits.vz
            folder = Path(inputs[0]).resolve()
            return [str(folder.with_name(folder.name + ".vz"))]
        raise UsageError("--pack needs -o ARCHIVE.vz (or - for stdout)")
    if len(sources) == 1:
        source = sources[0]
        if output:
            return [output]
        return [STDIO if source.path is None else str(source.path.with_suffix(".vz"))]
    if output == STDIO:
        raise UsageError("-o - needs a single input, or --pack")
    if output:
        return [str(Path(output) / Path(s.name).with_suffix(".vz")) for s in sources]
    return [str(s.path.with_suffix(".vz")) for s in sources]


def archive_folder(source, output: str | None, n_inputs: int) -> Path:
    """The directory an archive decodes into: -o DIR (one input), DIR/NAME (several),
    or next to the archive, named after it."""
    if output == STDIO:
        raise UsageError(f"{source.label}: an archive decodes into a directory, not -")
    if output:
        return Path(output) if n_inputs == 1 else Path(output) / Path(source.name).with_suffix("")
    if source.path is None:
        raise UsageError("an archive from standard input needs -o DIR")
    return source.path.with_suffix("")


def decode_targets(source, vz, output: str | None, n_inputs: int) -> list[str]:
    """Output paths for one .vz: a file for one image, a directory for an archive."""

    # Many inputs go under -o DIR by their names (relative paths inside a walked folder).
    stem = None if source.path is None else source.path.with_suffix("")
    under_output = Path(output) / Path(source.name).with_suffix("") if output else None
    if vz.packed or len(vz) > 1:
        folder = archive_folder(source, output, n_inputs)
        return [str(folder / decoded_name(p.name)) for p in vz.images]
    if output and n_inputs == 1:
        check_image_output(output)
        return [output]
    if output:
        if output == STDIO:
            raise UsageError("-o - needs a single input")
        return [str(under_output.with_suffix(".png"))]
    return [STDIO if stem is None else str(stem.with_suffix(".png"))]


def check_targets(targets: list[str], inputs: list, force: bool) -> None:
    """Before any work: no two outputs alike, none an input, none existing unless --force."""
    files = [t for t in targets if t != STDIO]
    if len(set(files)) != len(files):
        dup = next(t for t in files if files.count(t) > 1)
        raise UsageError(f"two inputs would both be written to {dup}; use -o DIR or --pack")
    input_paths = {os.path.abspath(p) for p in inputs if p is not None}
    input_files = None  # (device, inode) of each input, computed once if ever needed
    for target in files:
        same = os.path.abspath(target) in input_paths
        if not same and force and os.path.exists(target):  # a link or other path to an input?
            if input_files is None:
                input_files = {_file_id(p) for p in input_paths}
            same = _file_id(target) in input_files
        if same:
            raise UsageError(f"{target}: output would overwrite its own input; use -o")
        check_writable(Path(target), force)
    if STDIO in targets and sys.stdout.isatty():
        raise UsageError("refusing to write binary data to a terminal; use -o FILE or a pipe")


def _file_id(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like 256x256, not {text!r}") from None
    if not (1 <= w <= 20000 and 1 <= h <= 20000):
        raise UsageError(f"--size must be between 1x1 and 20000x20000, not {text}")
    return w, h


def remove_inputs(sources, outputs: list[str]) -> None:
    """--rm: delete the input files, once every output file has been read back and found
    intact (vaezip test's checks for .vz files; images must open)."""
    for output in outputs:
        if output == STDIO:
            continue
        if not _verified(Path(output)):
            raise OutputError(f"{output}: could not be verified; the inputs were kept")
    for source in sources:
        if source.path is not None:
            source.path.unlink(missing_ok=True)


def _verified(path: Path) -> bool:
    if path.suffix.lower() == ".vz":

        lost, images = verify(path, str(path))
        return not lost and images > 0
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:
        return False
