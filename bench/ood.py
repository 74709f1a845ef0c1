"""Can the models tell a digit from a non-digit (issue 16, item 6)? A probe, not a feature:
the score of each shipped model on the MNIST test digits and on made-up non-digits (PIL
gradients, shapes, text lines, noise, faces), all brought into model space as `vaezip
encode` does. The threshold is the 99.9% quantile of the score on 20,000 training digits.

Run: python bench/ood.py --data-dir ../shared/data   Writes bench/results/ood.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import mnist_test_digits, write_results
from PIL import Image, ImageDraw

from vaezip.imaging import prepare
from vaezip.model import load

RESULTS = Path(__file__).resolve().parent / "results" / "ood"
KINDS = ("gradient", "shapes", "text", "noise", "face")


def elbo(model, pixels: np.ndarray) -> np.ndarray:
    """-ELBO per pixel (nats) at z = mu, for a Bernoulli decoder."""
    x = pixels.reshape(len(pixels), -1).astype(np.float32)
    mu, sigma = model.encode(x)
    xh = model.decode(mu).reshape(len(x), -1).clip(1e-6, 1 - 1e-6)
    rec = -(x * np.log(xh) + (1 - x) * np.log(1 - xh)).sum(1)
    kl = 0.5 * (mu**2 + sigma**2 - 1 - 2 * np.log(sigma)).sum(1)
    return (rec + kl) / x.shape[1]


def mse(model, pixels: np.ndarray) -> np.ndarray:
    x = pixels.reshape(len(pixels), -1).astype(np.float32)
    mu, _ = model.encode(x)
    return ((model.decode(mu).reshape(len(x), -1) - x) ** 2).mean(1)


def made(rng, kind: str, i: int) -> Image.Image:
    s = 128
    image = Image.new("L", (s, s), 255)
    draw = ImageDraw.Draw(image)
    if kind == "gradient":
        a = np.linspace(0, 255, s)[None, :].repeat(s, 0)
        return Image.fromarray((a.T if i % 2 else a).astype(np.uint8))
    if kind == "shapes":
        for _ in range(rng.integers(1, 4)):
            x0, y0 = rng.integers(0, 80, 2)
            w, h = rng.integers(20, 60, 2)
            shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
            shape([x0, y0, x0 + w, y0 + h], fill=0)
    elif kind == "text":
        for row in range(3):
            draw.text((5, 10 + 35 * row), "".join(rng.choice(list("abcdefghij klmnop"), 14)),
                      fill=0)
    elif kind == "noise":
        return Image.fromarray((rng.random((s, s)) * 255).astype(np.uint8))
    else:  # a face
        draw.ellipse([14, 14, 114, 114], outline=0, width=4)
        draw.ellipse([40, 45, 52, 57], fill=0)
        draw.ellipse([76, 45, 88, 57], fill=0)
        draw.arc([40, 60, 88, 95], 20, 160, fill=0, width=4)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    train = mnist_test_digits(args.data_dir, 20_000, train=True) / 255
    test = mnist_test_digits(args.data_dir) / 255
    rows, data = [], {}
    for name, model_name, fn in (("-ELBO", "mnist-bvae-32d", elbo), ("MSE", "mnist-bvae-32d", mse),
                                 ("-ELBO", "mnist-vae-16d", elbo),
                                 ("-ELBO", "mnist-vae-binary", elbo)):
        model = load(model_name)
        threshold = float(np.quantile(fn(model, train), 0.999))
        false = float((fn(model, test) > threshold).mean())
        rng = np.random.default_rng(0)
        flagged = {}
        for kind in KINDS:
            pixels = np.stack([prepare(made(rng, kind, i), "x").pixels for i in range(40)])
            flagged[kind] = float((fn(model, pixels) > threshold).mean())
        data[f"{model_name} {name}"] = {"threshold": threshold, "test_false_warnings": false,
                                        "flagged": flagged}
        rows.append(f"| {model_name} | {name} | {100 * false:.2f}% | "
                    + " | ".join(f"{100 * flagged[k]:.0f}%" for k in KINDS) + " |")
    lines = ["# Does the score flag non-digits?", "",
             "Threshold: the 99.9% quantile on 20,000 training digits. 40 images of each "
             "kind, made with PIL and brought into model space as `vaezip encode` does. "
             "Command: `python bench/ood.py --data-dir ../shared/data`.", "",
             "| model | score | test digits flagged | " + " | ".join(KINDS) + " |",
             "|---|---|---:|" + "---:|" * len(KINDS), *rows, ""]
    write_results(RESULTS, lines, data)


if __name__ == "__main__":
    main()
