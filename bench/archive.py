"""Archives at scale (issue 15): memory, threads, extraction, rate and damage.

- Peak RSS and time of `vaezip encode DIR --pack` and `vaezip decode` for the 60,000 MNIST
  training digits (one PNG each), and for 120,000 (the same folder twice);
- `-T 2` against `-T 1`: lossy --pack of the 60,000 and lossless --pack of 8,192 digits
  (four lossless frames of archive.FRAME_IMAGES, so that two processes can share them evenly);
- `decode --member` of one image out of the 60,000-digit archive;
- the rate of framed archives on the 10,000 test digits (default quality, and lossless);
- one byte flipped in the middle of the archive: `test` and `--salvage`.

Peak RSS is the child process's ru_maxrss (os.wait4), worker processes included.
Run: python bench/archive.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/archive.md and .json.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
from pathlib import Path

from common import VAEZIP, mnist_test_digits, run_measured, write_pngs, write_results

RESULTS = Path(__file__).resolve().parent / "results" / "archive"
CACHE = Path(__file__).resolve().parent / ".cache" / "archive"
RUNS = 3  # interleaved runs per thread count
LOSSLESS_DIGITS = 8192  # four lossless frames (archive.FRAME_IMAGES: 2,048 images each)


def pngs(data_dir: Path, name: str, train: bool, limit: int | None = None) -> Path:
    """A folder of the digits as PNG files, made once and kept in bench/.cache."""
    folder = CACHE / name
    digits = mnist_test_digits(data_dir, limit, train=train)
    if not folder.is_dir() or len(list(folder.iterdir())) != len(digits):
        shutil.rmtree(folder, ignore_errors=True)
        write_pngs(digits, folder)
    return folder


def run(args: list[str]) -> tuple[float, int]:
    return run_measured([VAEZIP, *map(str, args)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    train = pngs(args.data_dir, "train", train=True)
    twice = CACHE / "twice"  # the same folder twice: a/ and b/
    if not twice.is_dir():
        twice.mkdir(parents=True)
        for part in "ab":
            shutil.copytree(train, twice / part)
    test = pngs(args.data_dir, "test", train=False)
    out = CACHE / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    r: dict = {}

    for label, folder, n in (("60k", train, 60_000), ("120k", twice, 120_000)):
        seconds, rss = run(["encode", folder, "--pack", "-o", out / f"{label}.vz", "-q"])
        r[f"encode {label}"] = {"seconds": round(seconds, 2), "peak_rss_mb": rss, "images": n}
        seconds, rss = run(["decode", out / f"{label}.vz", "-o", out / f"{label}-dec", "-q"])
        r[f"decode {label}"] = {"seconds": round(seconds, 2), "peak_rss_mb": rss, "images": n}
        shutil.rmtree(out / f"{label}-dec")
    # Thread counts: interleaved runs, medians (this machine's timings swing by a third).
    times: dict = {}
    for _ in range(RUNS):
        for t in ("1", "2"):
            times.setdefault(f"encode {t}", []).append(run([
                "encode", train, "--pack", "-T", t, "-o", out / f"60k-t{t}.vz", "-q", "-f"])[0])
            times.setdefault(f"decode {t}", []).append(run([
                "decode", out / "60k.vz", "-T", t, "-o", out / f"dec{t}", "-q", "-f"])[0])
            shutil.rmtree(out / f"dec{t}")
    same = (out / "60k-t2.vz").read_bytes() == (out / "60k-t1.vz").read_bytes()
    for what in ("encode", "decode"):
        for t in ("1", "2"):
            r[f"{what} 60k -T {t}"] = {"seconds": round(statistics.median(times[f"{what} {t}"]), 2),
                                       "runs": [round(x, 2) for x in times[f"{what} {t}"]]}
    r["encode 60k -T 2"]["same_bytes"] = same

    lossless = CACHE / f"lossless-{LOSSLESS_DIGITS}"
    if not lossless.is_dir():
        lossless.mkdir()
        for path in sorted(test.iterdir())[:LOSSLESS_DIGITS]:
            shutil.copy(path, lossless / path.name)
    times = {}
    for _ in range(RUNS):
        for t in ("1", "2"):
            times.setdefault(f"encode {t}", []).append(run([
                "encode", lossless, "--pack", "--lossless", "-T", t, "-o", out / f"ll-t{t}.vz",
                "-q", "-f"])[0])
            times.setdefault(f"decode {t}", []).append(run([
                "decode", out / f"ll-t{t}.vz", "-T", t, "-o", out / f"ll-{t}", "-q", "-f"])[0])
    for what in ("encode", "decode"):
        for t in ("1", "2"):
            r[f"lossless {what} {LOSSLESS_DIGITS} -T {t}"] = {
                "seconds": round(statistics.median(times[f"{what} {t}"]), 2),
                "runs": [round(x, 2) for x in times[f"{what} {t}"]]}
    r["lossless -T bytes equal"] = ((out / "ll-t1.vz").read_bytes()
                                    == (out / "ll-t2.vz").read_bytes())

    member = [run(["decode", out / "60k.vz", "--member", "31337.png", "-o", out / "one", "-q",
                   "-f"])[0] for _ in range(5)]
    r["decode --member (1 of 60,000)"] = {"seconds": round(statistics.median(member), 3),
                                          "runs": [round(x, 3) for x in member]}

    run(["encode", test, "--pack", "-o", out / "test.vz", "-q"])
    run(["encode", test, "--pack", "--lossless", "-o", out / "test-ll.vz", "-q"])
    r["rate"] = {"default quality, B/digit": round((out / "test.vz").stat().st_size / 10_000, 2),
                 "lossless, bits/dim": round(8 * (out / "test-ll.vz").stat().st_size
                                             / (10_000 * 784), 4)}

    data = bytearray((out / "60k.vz").read_bytes())
    data[len(data) // 2] ^= 0x08
    (out / "damaged.vz").write_bytes(bytes(data))
    test_run = subprocess.run([VAEZIP, "test", out / "damaged.vz"], capture_output=True,
                              text=True)
    salvage = subprocess.run([VAEZIP, "decode", out / "damaged.vz", "--salvage", "-o",
                              out / "salvaged", "-q"], capture_output=True, text=True)
    written = sum(1 for _ in (out / "salvaged").rglob("*.png"))
    lost = sum("lost:" in line for line in salvage.stderr.splitlines())
    r["damage"] = {"test exit": test_run.returncode, "test names": test_run.stderr.strip()[:160],
                   "salvage exit": salvage.returncode, "written": written, "lost": lost}
    write(r)


def write(r: dict) -> None:
    def ratio(a: str, b: str) -> float:
        return r[a]["seconds"] / r[b]["seconds"]

    def met_ratio(a: str, b: str) -> str:
        return _met(ratio(a, b) >= 1.6)

    e60, e120 = r["encode 60k"], r["encode 120k"]
    d60, d120 = r["decode 60k"], r["decode 120k"]
    ll_encode, ll_decode = ([f"lossless {what} {LOSSLESS_DIGITS} -T {t}" for t in ("1", "2")]
                            for what in ("encode", "decode"))
    lines = [
        "# Archives at scale",
        "",
        f"{platform.machine()}, Python {platform.python_version()}, 2 cores. Command: "
        "`python bench/archive.py --data-dir ../shared/data` (`make bench`). MNIST digits as "
        "one PNG file each; peak RSS from os.wait4 (ru_maxrss), worker processes included.",
        "",
        "| measure | result | goal | met |",
        "|---|---:|---|---|",
        f"| `encode --pack`, 60,000 digits | {e60['seconds']} s, {e60['peak_rss_mb']} MB "
        f"| ≤ 200 MB | {_met(e60['peak_rss_mb'] <= 200)} |",
        f"| `encode --pack`, 120,000 digits | {e120['seconds']} s, {e120['peak_rss_mb']} MB "
        f"| ≤ 110% of 60,000 | {_met(e120['peak_rss_mb'] <= 1.1 * e60['peak_rss_mb'])} |",
        f"| `decode`, 60,000 | {d60['seconds']} s, {d60['peak_rss_mb']} MB | ≤ 200 MB "
        f"| {_met(d60['peak_rss_mb'] <= 200)} |",
        f"| `decode`, 120,000 | {d120['seconds']} s, {d120['peak_rss_mb']} MB "
        f"| ≤ 110% of 60,000 | {_met(d120['peak_rss_mb'] <= 1.1 * d60['peak_rss_mb'])} |",
        f"| `-T 2` / `-T 1`, lossy `--pack` of 60,000 (median of {RUNS}) "
        f"| {ratio('encode 60k -T 1', 'encode 60k -T 2'):.2f}x "
        f"(same bytes: {r['encode 60k -T 2']['same_bytes']}) | ≥ 1.6x "
        f"| {met_ratio('encode 60k -T 1', 'encode 60k -T 2')} |",
        f"| `-T 2` / `-T 1`, decode of 60,000 | "
        f"{ratio('decode 60k -T 1', 'decode 60k -T 2'):.2f}x | report | |",
        f"| `-T 2` / `-T 1`, lossless `--pack` of {LOSSLESS_DIGITS:,} "
        f"| {ratio(*ll_encode):.2f}x (same bytes: {r['lossless -T bytes equal']}) | ≥ 1.6x "
        f"| {met_ratio(*ll_encode)} |",
        f"| `-T 2` / `-T 1`, lossless decode of {LOSSLESS_DIGITS:,} "
        f"| {ratio(*ll_decode):.2f}x | report | |",
        f"| `decode --member`, 1 of 60,000 (median of 5) "
        f"| {r['decode --member (1 of 60,000)']['seconds']} s "
        f"| ≤ 0.5 s | {_met(r['decode --member (1 of 60,000)']['seconds'] <= 0.5)} |",
        f"| framed, default quality, 10,000 test digits | {r['rate']['default quality, B/digit']} "
        f"B/digit | ≤ 13.7 | {_met(r['rate']['default quality, B/digit'] <= 13.7)} |",
        f"| framed, lossless, 10,000 test digits | {r['rate']['lossless, bits/dim']} bits/dim "
        f"| ≤ 1.30 | {_met(r['rate']['lossless, bits/dim'] <= 1.30)} |",
        f"| one byte flipped mid-archive: `test` | exit {r['damage']['test exit']} "
        f"| exit 1, names | {_met(r['damage']['test exit'] == 1)} |",
        f"| ... `decode --salvage` | {r['damage']['written']:,} written, "
        f"{r['damage']['lost']:,} lost, exit {r['damage']['salvage exit']} "
        f"| every undamaged frame "
        f"| {_met(r['damage']['written'] + r['damage']['lost'] == 60_000)} |",
        "",
        f"`test` said: {r['damage']['test names']}",
        "",
    ]
    write_results(RESULTS, lines, r)


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    main()
