"""The "not a digit" warning (issue 16, item 6): how often it fires on real digits and on
made-up non-digits (tests/nondigits.py: gradients, shapes, text lines, noise, faces drawn
with PIL, varied in size, contrast and polarity), all brought into model space as `vaezip
encode` does. Also what the models' -ELBO alone would have flagged, for comparison.

Run: python bench/ood.py --data-dir ../shared/data   Writes bench/results/ood.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import mnist_test_digits, write_results

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from nondigits import KINDS, nondigits  # noqa: E402

from vaezip.frames.digit import prepare  # noqa: E402
from vaezip.models.runtime import load  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "ood"
MODEL = "mnist-bvae-32d"
PER_KIND = 200
# Seeds 0, 1, 5 and 9 were looked at while choosing the features and the per-class fit;
# seed 17 was first drawn by this benchmark, after those choices.
SEEDS = {0: "seed 0 (seen while designing)", 17: "seed 17 (held out)"}


def elbo(model, pixels: np.ndarray) -> np.ndarray:
    """-ELBO per pixel (nats) at z = mu, for a Bernoulli decoder: the score the issue
    proposed, as the baseline."""
    x = pixels.reshape(len(pixels), -1).astype(np.float32)
    mu, sigma = model.encode(x)
    xh = model.decode(mu).reshape(len(x), -1).clip(1e-6, 1 - 1e-6)
    rec = -(x * np.log(xh) + (1 - x) * np.log(1 - xh)).sum(1)
    kl = 0.5 * (mu**2 + sigma**2 - 1 - 2 * np.log(sigma)).sum(1)
    return (rec + kl) / x.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    model = load(MODEL)
    train = mnist_test_digits(args.data_dir, 20_000, train=True) / 255
    test = mnist_test_digits(args.data_dir) / 255
    elbo_threshold = float(np.quantile(elbo(model, train), 0.999))
    scorers = {"the warning (models/detector.py)": lambda x: model.nondigit_scores(x) > 1,
               "-ELBO above its 99.9% training quantile": lambda x: elbo(model, x) > elbo_threshold}
    start = time.perf_counter()
    model.nondigit_scores(test)
    per_image_us = (time.perf_counter() - start) / len(test) * 1e6
    rows, data = [], {"model": MODEL, "score_us_per_image": round(per_image_us, 1)}
    sets = {seed: {k: np.stack([prepare(im, "x").pixels for im in nondigits(k, PER_KIND, seed)])
                   for k in KINDS} for seed in SEEDS}
    for name, flags in scorers.items():
        false = float(flags(test).mean())
        for seed, label in SEEDS.items():
            flagged = {k: float(flags(v).mean()) for k, v in sets[seed].items()}
            overall = float(np.mean(list(flagged.values())))
            data[f"{name}, {label}"] = {"test_false_warnings": false, "flagged": flagged,
                                        "flagged_overall": overall}
            rows.append(f"| {name} | {label} | {100 * false:.2f}% | "
                        + " | ".join(f"{100 * flagged[k]:.1f}%" for k in KINDS)
                        + f" | **{100 * overall:.1f}%** |")
    lines = ["# Does encoding warn about non-digits?", "",
             f"Model {MODEL}. Non-digits: {PER_KIND} of each kind per seed "
             "(tests/nondigits.py), brought into model space as `vaezip encode` does. "
             "Test digits: the 10,000 of MNIST's test set. Scoring costs "
             f"{per_image_us:.0f} µs per image. "
             "Command: `python bench/ood.py --data-dir ../shared/data`.", "",
             "| score | non-digits | test digits warned | " + " | ".join(KINDS)
             + " | all kinds |", "|---|---|---:|" + "---:|" * (len(KINDS) + 1), *rows, ""]
    write_results(RESULTS, lines, data)


if __name__ == "__main__":
    main()
