"""Lossless archives decode on other machines (issue 14): the 10,000 MNIST test digits,
packed with --lossless here, decoded in fresh processes under other OpenBLAS kernels, one
thread, and NumPy without AVX-512; every pixel compared with the originals. The archive is
also re-encoded under each setting and compared byte for byte.

Run: python bench/portability.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/portability.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from common import VAEZIP, mnist_test_digits, write_pngs, write_results
from PIL import Image

RESULTS = Path(__file__).resolve().parent / "results" / "portability"
SETTINGS = {
    "this machine, as is": {},
    "OPENBLAS_NUM_THREADS=1": {"OPENBLAS_NUM_THREADS": "1"},
    "OPENBLAS_CORETYPE=Haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "OPENBLAS_CORETYPE=Prescott": {"OPENBLAS_CORETYPE": "Prescott"},
    "NPY_DISABLE_CPU_FEATURES=X86_V4 AVX512_ICL AVX512_SPR":
        {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    digits = mnist_test_digits(args.data_dir)
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_pngs(digits, tmp / "in")
        subprocess.run([VAEZIP, "encode", tmp / "in", "--pack", "--lossless", "-o",
                        tmp / "here.vz", "-q"], check=True)
        here = (tmp / "here.vz").read_bytes()
        for name, env in SETTINGS.items():
            env = {**os.environ, **env}
            out = tmp / "out"
            r = subprocess.run([VAEZIP, "decode", tmp / "here.vz", "-o", out, "-q", "-f"],
                               env=env, capture_output=True, text=True)
            exact = sum(np.array_equal(np.asarray(Image.open(out / f"{i:05d}.png")), d)
                        for i, d in enumerate(digits)) if r.returncode == 0 else 0
            subprocess.run([VAEZIP, "encode", tmp / "in", "--pack", "--lossless", "-o",
                            tmp / "there.vz", "-q", "-f"], env=env, check=True)
            same = (tmp / "there.vz").read_bytes() == here
            data[name] = {"decode_exit": r.returncode, "pixel_exact": int(exact),
                          "same_bytes_when_encoded": same}
            rows.append(f"| {name} | {r.returncode} | {exact:,} of {len(digits):,} | {same} |")
    lines = ["# Lossless archives on other CPU settings", "",
             f"The {len(digits):,} MNIST test digits, `vaezip encode --pack --lossless` here, "
             "decoded and re-encoded in fresh processes under each setting. Command: `python "
             "bench/portability.py --data-dir ../shared/data` (`make bench`).", "",
             "| setting | decode exit | digits back pixel for pixel "
             "| re-encoded to the same bytes |",
             "|---|---:|---:|---|", *rows, ""]
    write_results(RESULTS, lines, data)


if __name__ == "__main__":
    main()
