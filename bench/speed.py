"""Where users feel speed: start-up, single-file latency, bulk throughput, memory.

Whole-process wall times (what a shell or a script sees), medians of several runs:
- `vaezip --help`;
- `vaezip encode digit.png` and `vaezip decode digit.vz` with the default model;
- encoding the 10,000 MNIST test digits from PNG files, packed and one file each, against
  Pillow re-saving the same files as optimised PNG in one process;
- peak RSS of a single encode, and of one training epoch on the full training set.

Run: python bench/speed.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/speed.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

from common import VAEZIP, median_time, mnist_test_digits, pillow_resave, run_measured, write_pngs

RESULTS = Path(__file__).resolve().parent / "results" / "speed.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--runs", type=int, default=7, help="runs per latency median")
    parser.add_argument("--bulk-runs", type=int, default=3, help="runs per throughput median")
    args = parser.parse_args()
    digits = mnist_test_digits(args.data_dir)
    n = len(digits)
    rows: list[tuple[str, str, str, str]] = []  # (measure, result, goal, met)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {"VAEZIP_HOME": str(tmp / "home")}
        src = tmp / "png"
        write_pngs(digits, src)
        digit = src / "00000.png"

        t, _ = median_time([VAEZIP, "--help"], args.runs, env)
        rows.append(("`vaezip --help`", f"{t:.3f} s", "≤ 0.3 s", _met(t <= 0.3)))
        encode = [VAEZIP, "encode", str(digit), "-o", str(tmp / "d.vz"), "-f", "-q"]
        t, _ = median_time(encode, args.runs, env)
        rows.append(("`vaezip encode digit.png`", f"{t:.3f} s", "≤ 0.5 s (aim 0.3 s)",
                     _met(t <= 0.5)))
        decode = [VAEZIP, "decode", str(tmp / "d.vz"), "-o", str(tmp / "d.png"), "-f", "-q"]
        t, _ = median_time(decode, args.runs, env)
        rows.append(("`vaezip decode digit.vz`", f"{t:.3f} s", "≤ 0.5 s (aim 0.3 s)",
                     _met(t <= 0.5)))
        rss = max(run_measured(encode, env)[1] for _ in range(3))
        rows.append(("peak RSS of one encode", f"{rss} MB", "≤ 300 MB", _met(rss <= 300)))

        # Interleaved, each run into a fresh directory: file creation costs swing with the
        # file system's state (a big delete just before slows the next writer twofold).
        pillow_t, pack_t, each_t = [], [], []
        for i in range(args.bulk_runs):
            pillow_t.append(pillow_resave(src, tmp / f"resaved{i}"))
            pack_t.append(run_measured([VAEZIP, "encode", str(src), "--pack", "-o",
                                        str(tmp / f"all{i}.vz"), "-q"], env)[0])
            each_t.append(run_measured([VAEZIP, "encode", str(src), "-o", str(tmp / f"vz{i}"),
                                        "-q"], env)[0])
        pillow, pack, each = (statistics.median(t) for t in (pillow_t, pack_t, each_t))
        rows.append((f"Pillow re-saving {n:,} PNGs as optimised PNG files (one process)",
                     f"{pillow:.2f} s = {n / pillow:,.0f} files/s", "reference", ""))
        rows.append((f"`vaezip encode DIR --pack` ({n:,} PNGs -> one archive)",
                     f"{pack:.2f} s = {n / pack:,.0f} images/s",
                     "≥ 2,000/s and ≥ Pillow", _met(n / pack >= 2000 and pack <= pillow)))
        rows.append((f"`vaezip encode DIR -o OUT` ({n:,} PNGs -> {n:,} .vz files)",
                     f"{each:.2f} s = {n / each:,.0f} files/s",
                     "≥ 2,000/s and ≥ Pillow", _met(n / each >= 2000 and each <= pillow)))

        train = [VAEZIP, "train", "--name", "bench", "--epochs", "1", "--data-dir",
                 str(args.data_dir), "--no-download", "--quiet", "--force"]
        seconds, train_rss = run_measured(train, env)
        rows.append(("peak RSS of `vaezip train` (1 epoch, 60,000 images, default model, "
                     "with the test-set evaluation)", f"{train_rss:,} MB ({seconds:.1f} s)",
                     "report", ""))

    lines = [
        "# vaezip speed and memory",
        "",
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"latencies are medians of {args.runs} whole-process runs, throughputs of "
        f"{args.bulk_runs}. Command: `python bench/speed.py --data-dir ../shared/data` "
        "(`make bench`).",
        "",
        "| measure | result | goal | met |",
        "|---|---:|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    main()
