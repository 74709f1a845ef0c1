"""Rebuild tests/data/mnist-mini.npz from the original MNIST IDX files.

The first 1,000 training and first 500 test digits (MNIST is CC BY-SA 3.0, Y. LeCun and
C. Cortes): enough real data for training, resume and eval tests on a machine without
the full dataset. Run: python tests/data/make_mnist_mini.py ../shared/data/MNIST/raw
"""

import sys
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    data = path.read_bytes()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main(raw: Path) -> None:
    np.savez_compressed(
        Path(__file__).with_name("mnist-mini.npz"),
        train_images=read_idx(raw / "train-images-idx3-ubyte")[:1000],
        train_labels=read_idx(raw / "train-labels-idx1-ubyte")[:1000],
        test_images=read_idx(raw / "t10k-images-idx3-ubyte")[:500],
        test_labels=read_idx(raw / "t10k-labels-idx1-ubyte")[:500],
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
