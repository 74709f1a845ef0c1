"""A folder of the user's own images as a training set: read recursively, in any format
Pillow reads, brought into one frame by the plain framing (frames/plain.py) the way
`vaezip encode` brings them in.

The frame is the one the images mostly have (their commonest size and channels), unless
the user names it. The split is the folder's train/ and test/ where both exist; otherwise
a hold-out by content: an image is a test image when the first byte of the SHA-256 of its
pixels is below 26 (about one in ten). So duplicates never straddle the split, and the
split of an image does not change as the folder grows. Identical images are kept once.
Unreadable files are skipped and counted, not fatal: one damaged file among thousands
should not stop a run, and the caller reports how many (and the first few).

numpy and Pillow only: the caller turns the arrays into tensors.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaezip.errors import DataUnavailableError, ImageError
from vaezip.frames.digit import open_image
from vaezip.frames.plain import Frame, given_back_mode, prepare
from vaezip.frames.sources import IMAGE_SUFFIXES

MIN_IMAGES = 20  # fewer cannot train anything, nor hold any out
TEST_BELOW = 26  # of 256: the hold-out's share of content hashes (~10%)
MODE_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


@dataclass(frozen=True)
class FolderData:
    frame: Frame
    train: np.ndarray  # uint8 [N, C * H * W]
    test: np.ndarray  # uint8 [M, C * H * W]
    train_labels: np.ndarray  # int64 [N]: a digit-named parent folder's number, else -1
    test_labels: np.ndarray
    chosen: str  # how the frame was chosen, in words
    split: str  # how the split was made, in words
    skipped: tuple[str, ...] = field(default=())  # "path: why", for each file left out
    duplicates: int = 0


def image_paths(root: Path) -> list[Path]:
    return sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file()), key=str)


def _survey(paths: list[Path]) -> tuple[list, list[str]]:
    """(path, image) for each readable file, and "path: why" for each other."""
    opened, skipped = [], []
    for path in paths:
        try:
            image, _ = open_image(path, str(path))
            opened.append((path, image))
        except ImageError as exc:
            skipped.append(str(exc))
    return opened, skipped


def common_frame(images: list) -> tuple[Frame, str]:
    """The frame most images have: their commonest size, and their commonest channels."""
    sizes = Counter(image.size for image in images)
    modes = Counter(MODE_CHANNELS[given_back_mode(image)] for image in images)
    (width, height), count = sizes.most_common(1)[0]
    channels = modes.most_common(1)[0][0]
    frame = Frame(channels, height, width)
    return frame, (f"{frame.describe()}, the frame of {count:,} of the {len(images):,} "
                   f"images")


def load_folder(root: Path, size: tuple[int, int] | None = None,
                channels: int | None = None) -> FolderData:
    """Every image under root in one frame, split into train and test. size (width,
    height) and channels: the frame's, where the user names them; else common_frame's."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataUnavailableError(f"{root}: not a folder of images")
    split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
    parts = [root / "train", root / "test"] if split_dirs else [root]
    surveyed = [_survey(image_paths(part)) for part in parts]
    skipped = [why for _, bad in surveyed for why in bad]
    every = [image for opened, _ in surveyed for _, image in opened]
    if len(every) < MIN_IMAGES:
        raise DataUnavailableError(f"{root}: {len(every)} readable images; training needs at "
                                   f"least {MIN_IMAGES}")
    frame, chosen = common_frame(every)
    if size is not None or channels is not None:
        width, height = size or (frame.width, frame.height)
        frame = Frame(channels or frame.channels, height, width)
        chosen = f"{frame.describe()}, as asked"
    seen: set[bytes] = set()
    rows: list[list[np.ndarray]] = [[] for _ in parts]
    labels: list[list[int]] = [[] for _ in parts]
    held_out: list[np.ndarray] = []
    held_labels: list[int] = []
    duplicates = 0
    for k, (opened, _) in enumerate(surveyed):
        for path, image in opened:
            pixels = prepare(image, path.name, frame).pixels
            levels = np.round(pixels * 255).astype(np.uint8)
            digest = hashlib.sha256(levels.tobytes()).digest()
            if digest in seen:
                duplicates += 1
                continue
            seen.add(digest)
            label = int(path.parent.name) if path.parent.name.isdigit() else -1
            if not split_dirs and digest[0] < TEST_BELOW:
                held_out.append(levels)
                held_labels.append(label)
            else:
                rows[k].append(levels)
                labels[k].append(label)
    train, train_labels = rows[0], labels[0]
    test, test_labels = (rows[1], labels[1]) if split_dirs else (held_out, held_labels)
    if not train or not test:
        raise DataUnavailableError(f"{root}: {len(train)} training and {len(test)} test images "
                                   f"after removing duplicates; both need some")
    split = ("the folder's train/ and test/" if split_dirs else
             f"a hold-out by content hash, {len(test):,} of {len(train) + len(test):,} "
             f"distinct images")
    return FolderData(frame, np.stack(train), np.stack(test), np.array(train_labels),
                      np.array(test_labels), chosen, split, tuple(skipped), duplicates)


def parse_frame(size: str | None, channels: str | None) -> tuple[tuple[int, int] | None,
                                                                 int | None]:
    """--frame WxH and --channels (gray, gray+alpha, rgb, rgba, or 1-4) -> (size, count);
    ValueError with what is wrong."""
    wh = None
    if size is not None:
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise ValueError(f"a frame is WIDTHxHEIGHT like 32x32, not {size!r}") from None
        wh = (w, h)
    count = None
    if channels is not None:
        names = {"gray": 1, "grey": 1, "l": 1, "gray+alpha": 2, "la": 2, "rgb": 3, "rgba": 4,
                 "1": 1, "2": 2, "3": 3, "4": 4}
        if channels.lower() not in names:
            raise ValueError(f"channels are gray, gray+alpha, rgb or rgba, not {channels!r}")
        count = names[channels.lower()]
    return wh, count
