"""Does `vaezip sample --digit D` draw the digit D? The conditional model's samples,
judged by the benchmark's own digit classifier (bench/classifier.py).

For each digit D: n draws from the prior of mnist-cvae-8d given D (the same call as
`vaezip sample --digit D`), the fraction the classifier labels D. Bar: >= 95% for every D.

Run: python bench/cvae_digits.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/cvae_digits.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from classifier import cached_classifier

RESULTS = Path(__file__).resolve().parent / "results" / "cvae_digits.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", default="mnist-cvae-8d")
    parser.add_argument("-n", type=int, default=1000, help="draws per digit")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from vaezip.models.registry import load_model

    start = time.perf_counter()
    classifier, accuracy = cached_classifier(args.data_dir)
    trained_in = time.perf_counter() - start
    model, entry = load_model(args.model)
    rows = []
    for digit in range(model.config.classes):
        gen = torch.Generator().manual_seed(digit)
        labels = torch.full((args.n,), digit)
        with torch.inference_mode():
            images = model.decode(model.prior_sample(args.n, gen), labels)
        predicted = classifier.predict(images)
        rows.append((digit, (predicted == digit).float().mean().item(),
                     torch.bincount(predicted, minlength=10)))
    worst = min(share for _, share, _ in rows)
    lines = [
        f"# `vaezip sample --digit D` judged by a classifier ({entry.name})",
        "",
        f"Classifier: a small CNN trained by the benchmark on the 60,000 MNIST training "
        f"digits ({trained_in:.0f} s), {accuracy:.2%} accurate on the 10,000 test digits. "
        f"{args.n} draws per digit from the prior (seed = the digit). {platform.machine()}. "
        "Command: `python bench/cvae_digits.py --data-dir ../shared/data`.",
        "",
        "| digit | labelled as that digit | most common other label |",
        "|---:|---:|---|",
    ]
    for digit, share, counts in rows:
        others = counts.clone()
        others[digit] = -1
        other = int(others.argmax())
        lines.append(f"| {digit} | {share:.1%} | {other} ({int(counts[other])} of {args.n}) |")
    lines += ["", f"Worst digit: {worst:.1%}; bar: >= 95% for every digit: "
                  f"{'met' if worst >= 0.95 else 'NOT met'}.", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
