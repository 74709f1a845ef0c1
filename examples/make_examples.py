"""Rebuild the example images from MNIST's test set (CC BY-SA 3.0, LeCun and Cortes).

- seven.png: test digit 0 as MNIST stores it (28x28, white ink on black);
- two-on-paper.png: test digit 1 drawn the way a user would hand it over: dark ink on
  off-white paper, 256x256, the digit large and off-centre, with a little sensor noise.
Run: python examples/make_examples.py ../shared/data/MNIST/raw
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent


def main(raw: Path) -> None:
    data = (raw / "t10k-images-idx3-ubyte").read_bytes()
    digits = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)
    Image.fromarray(digits[0], "L").save(HERE / "seven.png", optimize=True)

    ink = Image.fromarray(digits[1], "L").resize((190, 190), Image.Resampling.BICUBIC)
    ink = np.asarray(ink.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float64) / 255
    paper = np.full((256, 256), 0.0)
    paper[40:230, 20:210] = ink
    rng = np.random.default_rng(0)
    gray = 236 - paper * (236 - 35) + rng.normal(0, 3, paper.shape)
    Image.fromarray(np.clip(gray, 0, 255).round().astype(np.uint8), "L").save(
        HERE / "two-on-paper.png", optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
