"""The identity guard (issue 18, vaezip/codecs/guard.py), measured on the 10,000 MNIST test digits.

The default lossy mode loses a digit's identity on ~0.8% of test digits: the benchmark's
judge (a CNN, classifier.py) labels their decodings unlike the originals. The guard's reader
(an MLP, shipped in weights/guards/) flags the digits whose decoding moves its labels most,
and those are coded `--max-error 16` instead. This measures, with the guard and with
`--no-guard`, through the CLI on one PNG file per digit:

- agreement with the judge, bytes per digit packed, how many digits were guarded and how
  many of the judge's losses they hold; every guarded digit is checked to be within 16;
- `encode --pack` and `decode` times, at the default -T (every core) and -T 1 (median of
  3); one-file `encode` and `decode` of a digit the guard passes and of one it flags
  (median of 5).

Run: python bench/identity_guard.py --data-dir ../shared/data
Writes bench/results/identity_guard.md (and .json).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch
from classifier import cached_classifier
from common import VAEZIP, median_time, mnist_test_digits, write_pngs, write_results
from judge import load_judge
from PIL import Image

CACHE = Path(__file__).resolve().parent / ".cache" / "archive" / "test"  # bench/archive.py's
RUNS, SINGLE_RUNS = 3, 5


def decoded_digits(folder: Path, names: list[str]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(folder / name)) for name in names])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()

    digits = mnist_test_digits(args.data_dir)
    if len(list(CACHE.glob("*.png"))) != len(digits):
        write_pngs(digits, CACHE)
    names = sorted(p.name for p in CACHE.glob("*.png"))
    judge, accuracy = cached_classifier(args.data_dir)
    independent, independent_meta = load_judge()

    def as_input(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images.reshape(len(images), -1) / 255.0).float()

    judged = judge.predict(as_input(digits))
    judged_independently = independent.predict(as_input(digits))

    from vaezip.format.archive import ArchiveReader

    rows, data, guarded_by_default = [], {}, set()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, flag in (("identity guard (default)", []), ("--no-guard", ["--no-guard"])):
            archive = tmp / "all.vz"
            encode = [VAEZIP, "encode", str(CACHE), "--pack", "-o", str(archive), "-q", "-f",
                      *flag]
            enc, _ = median_time(encode, RUNS)
            enc1, _ = median_time([*encode, "-T", "1"], RUNS)
            out = tmp / "out"
            decode = [VAEZIP, "decode", str(archive), "-o", str(out), "-q", "-f"]
            dec, _ = median_time(decode, RUNS)
            dec1, _ = median_time([*decode, "-T", "1"], RUNS)
            back = decoded_digits(out, names)
            kept = (judge.predict(as_input(back)) == judged).numpy()
            kept_independently = (independent.predict(as_input(back))
                                  == judged_independently).numpy()
            reader = ArchiveReader(archive, "all.vz")
            guarded = {n for f in reader.frames if f.model for n in f.names}
            reader.close()
            guarded_by_default |= guarded
            rows_guarded = np.array([n in guarded for n in names])
            # The judge's losses among the digits the default setting guards
            in_guarded = int((~kept & np.array([n in guarded_by_default for n in names])).sum())
            if rows_guarded.any():
                error = np.abs(back[rows_guarded].astype(int)
                               - digits[rows_guarded].astype(int)).max()
                if error > 16:
                    raise SystemExit(f"a guarded digit came back {error} levels off")
            size = archive.stat().st_size
            data[label] = {
                "bytes_per_digit": size / len(digits), "agreement": float(kept.mean()),
                "agreement_independent_judge": float(kept_independently.mean()),
                "independent_judge_losses": int((~kept_independently).sum()),
                "guarded": int(rows_guarded.sum()),
                "judge_losses": int((~kept).sum()), "losses_among_guarded": in_guarded,
                "encode_s": enc, "encode_s_T1": enc1, "decode_s": dec, "decode_s_T1": dec1}
            rows.append(
                f"| {label} | {size / len(digits):.2f} | {100 * kept.mean():.2f}% | "
                f"{100 * kept_independently.mean():.2f}% | "
                f"{int(rows_guarded.sum())} | {int((~kept).sum())} ({in_guarded}) | "
                f"{enc:.2f} s ({len(digits) / enc:,.0f}/s) | "
                f"{enc1:.2f} s ({len(digits) / enc1:,.0f}/s) | "
                f"{dec:.2f} s ({len(digits) / dec:,.0f}/s) | "
                f"{dec1:.2f} s ({len(digits) / dec1:,.0f}/s) |")
        singles = []
        flagged = next(n for n in names if n in guarded_by_default)
        for label, name in (("passed", names[0]), ("guarded", flagged)):
            target = tmp / "one.vz"
            enc, _ = median_time([VAEZIP, "encode", str(CACHE / name), "-o", str(target), "-q",
                                  "-f"], SINGLE_RUNS)
            dec, _ = median_time([VAEZIP, "decode", str(target), "-o", str(tmp / "one.png"),
                                  "-q", "-f"], SINGLE_RUNS)
            singles.append(f"| {label} ({name}) | {target.stat().st_size} B | {enc:.2f} s | "
                           f"{dec:.2f} s |")
            data[f"single_{label}"] = {"name": name, "bytes": target.stat().st_size,
                                      "encode_s": enc, "decode_s": dec}

    lines = [
        "# The identity guard (issue 18)", "",
        f"{platform.machine()}, Python {platform.python_version()}, {_cores()} cores. "
        "Command: `python bench/identity_guard.py --data-dir ../shared/data`. The 10,000 "
        "MNIST test digits as one PNG file each, `mnist-bvae-32d` at the default `-Q 2`; "
        f"the judge is bench/classifier.py's CNN ({accuracy:.2%} test accuracy). Agreement: "
        "decoded digits a judge labels as it labels their originals. That judge and the "
        "guard's reader are trained by the same loop (guard.fit_classifier) on the same "
        "digits, so it also gives the agreement of an independent judge (bench/judge.py: "
        "another family, trained once by its own recipe and loop, "
        f"{independent_meta['test_accuracy']:.2%} test accuracy). Times are whole CLI "
        f"runs, start-up included (median of {RUNS}).", "",
        "| setting | bytes/digit packed | agreement | agreement, independent judge | "
        "guarded digits | judge's losses (among the digits the default guards) | "
        "`encode --pack` | `encode --pack -T 1` | `decode` | `decode -T 1` |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
        f"One file per digit (median of {SINGLE_RUNS} runs):", "",
        "| digit | file | `encode` | `decode` |", "|---|---:|---:|---:|", *singles,
    ]
    write_results(Path(__file__).parent / "results" / "identity_guard", lines, data)


def _cores() -> int:
    from vaezip.archives import cores

    return cores()


if __name__ == "__main__":
    main()
