"""vaezip.open on a 60,000-image lossy archive (issue 28): one member by index, in a fresh
process, and the peak memory while iterating over every member.

The archive: the 60,000 MNIST training digits, packed with the defaults (the identity guard
on), as `vaezip.compress(list)` writes it (the bytes `encode --pack` writes).

Run: python bench/random_access.py --data-dir ../shared/data
Writes bench/results/random_access.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

from common import mnist_test_digits, write_results

CACHE = Path(__file__).resolve().parent / ".cache" / "train-60000.vz"
INDICES = (7, 12_345, 30_000, 45_678, 59_999)

ONE = """
import sys, time
start = time.perf_counter()
import vaezip
imported = time.perf_counter()
with vaezip.open(sys.argv[1]) as reader:
    image = reader[int(sys.argv[2])]
    image.load()
done = time.perf_counter()
print(imported - start, done - imported)
"""

ALL = """
import resource, sys, time
import vaezip
start = time.perf_counter()
peaks = []
with vaezip.open(sys.argv[1]) as reader:
    for i, (name, image) in enumerate(reader):
        if i in (0, 1_000, 10_000, 30_000, len(reader) - 1):
            peaks.append((i + 1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024))
print(time.perf_counter() - start, peaks)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not CACHE.exists():
        # In a process of its own: Linux carries a process's peak RSS across fork and exec,
        # so the measuring processes must not be forked from one that held 60,000 digits.
        subprocess.run([sys.executable, __file__, "--data-dir", str(args.data_dir),
                        "--build-only"], check=True)
    if args.build_only:
        import vaezip

        digits = mnist_test_digits(args.data_dir, train=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = vaezip.compress(list(digits))
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_bytes(data)
        return
    rows, times = [], []
    for index in INDICES:
        out = subprocess.run([sys.executable, "-c", ONE, str(CACHE), str(index)], check=True,
                             capture_output=True, text=True).stdout.split()
        imported, access = map(float, out)
        times.append(access)
        rows.append(f"| {index:,} | {imported:.3f} s | {access:.3f} s |")
    out = subprocess.run([sys.executable, "-c", ALL, str(CACHE)], check=True,
                         capture_output=True, text=True).stdout
    seconds, peaks = out.split(" ", 1)
    peaks = json.loads(peaks.replace("(", "[").replace(")", "]"))
    median = statistics.median(times)
    lines = [
        "# vaezip.open: random access and iteration (issue 28)", "",
        f"{platform.machine()}, Python {platform.python_version()}. Command: "
        "`python bench/random_access.py --data-dir ../shared/data`. The archive: the 60,000 "
        f"MNIST training digits packed with the defaults ({CACHE.stat().st_size:,} B). "
        "Each access runs in a fresh process: `import vaezip`, then `vaezip.open(path)[i]` "
        "(opening the archive, reading its index, decoding one member).", "",
        "| member | `import vaezip` | `open(path)[i]` |", "|---:|---:|---:|", *rows, "",
        f"Median `open(path)[i]`: **{median:.3f} s** (goal: under 0.5 s).", "",
        f"Iterating over all {peaks[-1][0]:,} members took {float(seconds):.1f} s. Peak "
        "resident memory of that process after so many members:", "",
        "| members decoded | peak RSS |", "|---:|---:|",
        *[f"| {n:,} | {mb} MB |" for n, mb in peaks],
    ]
    write_results(Path(__file__).parent / "results" / "random_access", lines,
                  {"access_s": dict(zip(map(str, INDICES), times, strict=True)),
                   "median_access_s": median, "iterate_all_s": float(seconds),
                   "peak_rss_mb": peaks})


if __name__ == "__main__":
    main()
