"""Round trip of the 10,000 MNIST test digits through float-layout .vz files (--float),
against PNG and WebP. The coded layout, the default, is bench/compress.py's subject.

Writes the digits as optimised PNG files, encodes them with the vaezip command (one .vz
per digit, and one packed archive), decodes the archive, and measures bytes per digit
and the fidelity of the decoded digits (posterior mean), including what storing mu and
sigma as float16 instead of float32 costs. Speed is bench/speed.py's job.

Run: python bench/roundtrip.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/roundtrip.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import numpy as np
from common import VAEZIP, mean_encoded_size, mnist_test_digits, run_measured, write_pngs
from PIL import Image

RESULTS = Path(__file__).resolve().parent / "results" / "roundtrip.md"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB (peak 1) from the mean squared error over all pixels."""
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def float16_psnr_cost(originals: np.ndarray) -> float:
    """PSNR(decode(float16 mu)) - PSNR(decode(float32 mu)) over the same digits."""
    from vaezip.models.registry import load_inference

    model, _ = load_inference("mnist-vae-16d")
    flat = originals.reshape(len(originals), -1)
    mu, _ = model.encode(flat)
    full = model.decode(mu)
    half = model.decode(mu.astype(np.float16).astype(np.float32))
    return psnr(flat, half) - psnr(flat, full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="first N test digits")
    args = parser.parse_args()
    digits = mnist_test_digits(args.data_dir, args.limit)
    n = len(digits)
    originals = digits.astype(np.float32) / 255
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "png"
        write_pngs(digits, src)
        png = sum(p.stat().st_size for p in src.iterdir()) / n
        webp = mean_encoded_size(digits, format="WEBP", lossless=True, quality=100, method=6)
        float_16d = ["-m", "mnist-vae-16d", "--float"]  # the float layout; coded: compress.py
        run_measured([VAEZIP, "encode", str(src), "-o", str(tmp / "vz"), "--quiet", *float_16d])
        single = sum(p.stat().st_size for p in (tmp / "vz").iterdir()) / n
        run_measured([VAEZIP, "encode", str(src), "--pack", "-o", str(tmp / "all.vz"), "-q",
                      *float_16d])
        packed = (tmp / "all.vz").stat().st_size / n
        run_measured([VAEZIP, "decode", str(tmp / "all.vz"), "-o", str(tmp / "dec"), "-q"])
        decoded = np.stack([np.asarray(Image.open(tmp / "dec" / f"{i:05d}.png"), np.float32)
                            for i in range(n)]) / 255

    fidelity = f"{psnr(originals, decoded):.2f} dB"
    per_image = [psnr(o, d) for o, d in zip(originals, decoded, strict=True)]
    rows = [
        ("optimised PNG (Pillow, optimize=True)", png, "lossless"),
        ("lossless WebP (Pillow, method 6)", webp, "lossless"),
        (".vz --float, one file per digit", single, fidelity),
        (".vz --float, packed archive", packed, fidelity),
    ]
    lines = [
        f"# Round trip of the {n:,} MNIST test digits (float layout, model mnist-vae-16d)",
        "",
        f"{platform.machine()}, Python {platform.python_version()}. "
        "Command: `python bench/roundtrip.py --data-dir ../shared/data` (`make bench`).",
        "",
        "| storage | bytes per digit | fidelity (PSNR, posterior mean) |",
        "|---|---:|---|",
        *[f"| {name} | {size:.1f} | {fid} |" for name, size, fid in rows],
        "",
        f"- PSNR from the mean squared error over all pixels, peak 1: {fidelity}; "
        f"mean of per-digit PSNR: {np.mean(per_image):.2f} dB.",
        f"- float16 instead of float32 for mu: the PSNR changes by "
        f"{float16_psnr_cost(originals):+.4f} dB.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
