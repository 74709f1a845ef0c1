"""Datasets, loaded once into memory as tensors.

Batching from one in-memory tensor is several times faster on a CPU than a per-sample
DataLoader with ToTensor; MNIST's 60,000 digits are 47 MB as uint8.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vaezip.errors import DataUnavailableError, Option, OptionError
from vaezip.frames.digit import prepare
from vaezip.frames.sources import IMAGE_SUFFIXES
from vaezip.models.registry import user_home

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


def _mnist_present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in MNIST_FILES)


def load_mnist(data_dir: Path | str, train: bool, download: bool = True) -> ImageSet:
    """MNIST through torchvision, downloading into data_dir when the files are missing."""
    import torch
    from torchvision.datasets import MNIST

    root = Path(data_dir).expanduser()
    if not _mnist_present(root):
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


def load_dataset(name: str, data_dir: Path | str, train: bool, download: bool = True
                 ) -> ImageSet | None:
    """A training (train=True) or test set as uint8 [N, 28, 28] images and labels.

    torchvision's 28x28 sets download into data_dir when missing. "folder" reads every
    image under data_dir (data_dir/train and data_dir/test when both exist), brought into
    model space the way `vaezip encode` does; a digit-named parent folder is the label
    (else -1). Returns None for a folder's test split when there is none.
    """
    if name == "mnist":
        return load_mnist(data_dir, train, download)
    if name == "folder":
        return _load_folder(Path(data_dir).expanduser(), train)
    if name not in TORCHVISION_SETS:

        raise OptionError(Option("dataset"), f" must be one of {', '.join(DATASETS)}, not {name!r}")
    import torchvision.datasets as tvd

    cls_name, extra, folder, transposed = TORCHVISION_SETS[name]
    root = Path(data_dir).expanduser()
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


def _load_folder(root: Path, train: bool) -> ImageSet | None:
    import numpy as np
    import torch

    split = root / ("train" if train else "test")
    if (root / "train").is_dir() and (root / "test").is_dir():
        root = split
    elif not train:
        return None
    paths = sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                    and p.is_file()), key=str)
    if not paths:
        raise DataUnavailableError(f"no image files under {root}")
    pixels = [prepare(p.read_bytes(), p.name, label=str(p)).pixels for p in paths]
    images = torch.from_numpy(np.round(np.stack(pixels) * 255).astype(np.uint8))
    labels = torch.tensor([int(p.parent.name) if p.parent.name.isdigit() else -1
                           for p in paths])
    return ImageSet(images=images, labels=labels)


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
    """uint8 [N, 28, 28] -> float32 [N, 784] in [0, 1]."""
    return images.reshape(len(images), -1).float().div_(255.0)


def grid_png_bytes(images, nrow: int = 8, scale: int = 1) -> bytes:
    """float [N, 28, 28] (or [N, 1, 28, 28]) in [0, 1] -> PNG bytes of a tiled grid, each
    pixel drawn as scale x scale (nearest neighbour: digits stay crisp on a screen)."""
    import io

    import torch
    from PIL import Image
    from torchvision.utils import make_grid

    images = images.detach().cpu().float().reshape(len(images), 1, *images.shape[-2:])
    grid = make_grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=0.5)  # [3, H, W]
    pixels = grid[0].mul(255).round().to(torch.uint8).numpy()
    if scale > 1:
        pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
