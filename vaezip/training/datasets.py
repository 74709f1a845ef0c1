"""Datasets, loaded once into memory as tensors.

Batching from one in-memory tensor is several times faster on a CPU than a per-sample
DataLoader with ToTensor; MNIST's 60,000 digits are 47 MB as uint8.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vaezip.errors import DataUnavailableError, Option, OptionError
from vaezip.models.registry import user_home
from vaezip.training.folders import load_folder

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def default_data_dir() -> Path:
    """$VAEZIP_DATA, else a data/ folder in vaezip's home (see registry.user_home)."""
    if os.environ.get("VAEZIP_DATA"):
        return Path(os.environ["VAEZIP_DATA"]).expanduser()

    return user_home() / "data"


@dataclass
class ImageSet:
    images: object  # torch.uint8 [N, 28, 28]
    labels: object  # torch.int64 [N]

    def __len__(self) -> int:
        return len(self.labels)


def mnist_present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in MNIST_FILES)


def load_mnist(data_dir: Path | str, train: bool, download: bool = True) -> ImageSet:
    """MNIST through torchvision, downloading into data_dir when the files are missing."""
    import torch
    from torchvision.datasets import MNIST

    root = Path(data_dir).expanduser()
    if not mnist_present(root):
        if not download:
            raise DataUnavailableError(_missing_message(root))
        try:
            root.mkdir(parents=True, exist_ok=True)
            MNIST(root=str(root), train=train, download=True)
        except (OSError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataUnavailableError(
                f"{_missing_message(root)} (download failed: {reason})"
            ) from None
    try:
        dataset = MNIST(root=str(root), train=train, download=False)
    except (OSError, RuntimeError) as exc:
        raise DataUnavailableError(f"cannot read MNIST under {root}: {exc}") from None
    images = dataset.data
    labels = dataset.targets
    if images.dtype != torch.uint8 or images.shape[1:] != (28, 28):
        raise DataUnavailableError(f"MNIST under {root} has unexpected shape {tuple(images.shape)}")
    return ImageSet(images=images, labels=labels)


# name -> (torchvision class, extra arguments, its folder under the data dir, transposed?)
# EMNIST stores its images transposed relative to MNIST.
TORCHVISION_SETS = {
    "mnist": ("MNIST", {}, "MNIST", False),
    "fashion-mnist": ("FashionMNIST", {}, "FashionMNIST", False),
    "kmnist": ("KMNIST", {}, "KMNIST", False),
    "emnist-digits": ("EMNIST", {"split": "digits"}, "EMNIST", True),
}
DATASETS = (*TORCHVISION_SETS, "folder")


# The sets whose images are handwriting, framed as MNIST's digits are (frames/digit.py).
# A model of any other set frames its images plainly (frames/plain.py).
DIGIT_SETS = ("mnist", "kmnist", "emnist-digits")
# Where Debian's dataset-fashion-mnist package puts the IDX files.
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def framing_of(dataset: str) -> str:
    return "digit" if dataset in DIGIT_SETS else "plain"


def load_dataset(name: str, data_dir: Path | str, train: bool, download: bool = True,
                 frame=None) -> ImageSet | None:
    """A training (train=True) or test set as uint8 images [N, ...] and labels.

    torchvision's 28x28 sets download into data_dir when missing (Fashion-MNIST is also
    read from Debian's package). "folder" reads every image under data_dir in the frame
    (C, H, W) given (training/folders.py); its labels are -1.
    """
    if name == "mnist":
        return load_mnist(data_dir, train, download)
    if name == "folder":
        channels, height, width = frame
        data = load_folder(Path(data_dir), (width, height), channels)
        return (folder_set(data.train, data.train_labels) if train
                else folder_set(data.test, data.test_labels))
    if name not in TORCHVISION_SETS:
        raise OptionError(Option("dataset"), f" must be one of {', '.join(DATASETS)}, not {name!r}")
    root = Path(data_dir).expanduser()
    if name == "fashion-mnist" and not (root / "FashionMNIST" / "raw").is_dir() and (
            DEBIAN_FASHION.is_dir()):
        return _idx_set(DEBIAN_FASHION, train)
    import torchvision.datasets as tvd

    cls_name, extra, folder, transposed = TORCHVISION_SETS[name]
    try:
        if download:
            root.mkdir(parents=True, exist_ok=True)
        dataset = getattr(tvd, cls_name)(root=str(root), train=train, download=download,
                                         **extra)
    except (OSError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataUnavailableError(
            f"{name} not found under {root / folder} and not downloadable ({reason})"
        ) from None
    images = dataset.data.transpose(1, 2) if transposed else dataset.data
    return ImageSet(images=images.contiguous(), labels=dataset.targets)


def folder_set(levels, labels) -> ImageSet:
    """uint8 [N, D] rows of a folder (training/folders.py) as an ImageSet."""
    import torch

    return ImageSet(images=torch.from_numpy(levels), labels=torch.from_numpy(labels))


def _idx_set(root: Path, train: bool) -> ImageSet:
    """An MNIST-layout set from its four gzipped IDX files (Debian's packages)."""
    import gzip

    import numpy as np
    import torch

    prefix = "train" if train else "t10k"
    with gzip.open(root / f"{prefix}-images-idx3-ubyte.gz") as f:
        data = f.read()
    images = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(root / f"{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return ImageSet(images=torch.from_numpy(images.copy()), labels=torch.from_numpy(labels))


def _missing_message(root: Path) -> str:
    return (
        f"MNIST not found under {root}: put the four IDX files ({', '.join(MNIST_FILES)}) "
        f"in {root / 'MNIST' / 'raw'}, or give the folder that holds them as the data directory"
    )


def binarize(images, seed: int = 0):
    """Each pixel -> 1 with probability its intensity: the dynamically binarised MNIST
    protocol, with a fixed seed for test sets. One draw over the whole tensor, so the
    result does not depend on how it is later batched. float [N, D] -> float [N, D]."""
    import torch

    return torch.bernoulli(images.cpu(), generator=torch.Generator().manual_seed(seed)).to(
        images.device)


def to_model_space(images) -> object:
    """uint8 [N, ...] -> float32 [N, D] in [0, 1] (D = 784 for a digit)."""
    return images.reshape(len(images), -1).float().div_(255.0)


def grid_png_bytes(images, nrow: int = 8, scale: int = 1) -> bytes:
    """float [N, H, W] or [N, C, H, W] in [0, 1] -> PNG bytes of a tiled grid, each
    pixel drawn as scale x scale (nearest neighbour: digits stay crisp on a screen).
    Alpha (C = 2 or 4) is composited over white, as a viewer shows it."""
    import io

    import numpy as np
    import torch
    from PIL import Image
    from torchvision.utils import make_grid

    images = images.detach().cpu().float()
    images = images.unsqueeze(1) if images.dim() == 3 else images
    if images.shape[1] in (2, 4):  # over white
        alpha = images[:, -1:]
        images = images[:, :-1] * alpha + (1 - alpha)
    colour = images.shape[1] == 3
    grid = make_grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=0.5)  # [3, H, W]
    pixels = grid.mul(255).round().to(torch.uint8).numpy()
    pixels = pixels.transpose(1, 2, 0) if colour else pixels[0]
    if scale > 1:
        pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), mode="RGB" if colour else "L").save(
        buffer, format="PNG", optimize=True)
    return buffer.getvalue()
