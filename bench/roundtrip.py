"""Round trip of the 10,000 MNIST test digits through .vz, against PNG and WebP.

Writes the digits as optimised PNG files, then measures:
- bytes per digit: optimised PNG, lossless WebP, one .vz per digit, a packed .vz archive;
- fidelity: PSNR of the decoded digits (posterior mean) against the originals, and what
  storing mu and sigma as float16 instead of float32 costs;
- speed: `vaezip encode DIR -o OUT` as a whole process (start-up included), in files per
  second, against Pillow re-saving the same files as optimised PNG in one process.

Run: python bench/roundtrip.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/roundtrip.md.
"""

from __future__ import annotations

import argparse
import io
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).resolve().parent / "results" / "roundtrip.md"
VAEZIP = str(Path(sys.executable).with_name("vaezip"))


def encoded_size(image: Image.Image, **kw) -> int:
    buffer = io.BytesIO()
    image.save(buffer, **kw)
    return len(buffer.getvalue())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB (peak 1) from the mean squared error over all pixels."""
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="first N test digits")
    args = parser.parse_args()

    from vaezip.data import load_mnist

    digits = load_mnist(args.data_dir, train=False, download=False).images.numpy()
    digits = digits[: args.limit] if args.limit else digits
    n = len(digits)
    originals = digits.astype(np.float32) / 255
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "png"
        src.mkdir()
        for i, d in enumerate(digits):
            Image.fromarray(d).save(src / f"{i:05d}.png", optimize=True)
        png = sum(p.stat().st_size for p in src.iterdir()) / n
        webp = np.mean([encoded_size(Image.fromarray(d), format="WEBP", lossless=True,
                                     quality=100, method=6) for d in digits])

        # Pillow re-saving the same files as optimised PNG, in one process.
        start = time.perf_counter()
        (tmp / "resaved").mkdir()
        for p in sorted(src.iterdir()):
            Image.open(p).save(tmp / "resaved" / p.name, optimize=True)
        pillow_s = time.perf_counter() - start

        encode_s = timed([VAEZIP, "encode", str(src), "-o", str(tmp / "vz"), "--quiet"])
        single = sum(p.stat().st_size for p in (tmp / "vz").iterdir()) / n
        pack_s = timed([VAEZIP, "encode", str(src), "--pack", "-o", str(tmp / "all.vz"),
                        "--quiet"])
        packed = (tmp / "all.vz").stat().st_size / n
        decode_s = timed([VAEZIP, "decode", str(tmp / "all.vz"), "-o", str(tmp / "dec"),
                          "--quiet"])
        decoded = np.stack([np.asarray(Image.open(tmp / "dec" / f"{i:05d}.png"), np.float32)
                            for i in range(n)]) / 255

    float16_cost = float16_psnr_cost(originals)
    per_image = [psnr(o, d) for o, d in zip(originals, decoded, strict=True)]
    rows = [
        ("optimised PNG (Pillow, optimize=True)", png, "lossless"),
        ("lossless WebP (Pillow, method 6)", webp, "lossless"),
        (".vz, one file per digit", single, f"{psnr(originals, decoded):.2f} dB"),
        (".vz, packed archive", packed, f"{psnr(originals, decoded):.2f} dB"),
    ]
    lines = [
        f"# Round trip of the {n:,} MNIST test digits (model mnist-vae-16d)",
        "",
        f"{platform.machine()}, Python {platform.python_version()}. "
        "Command: `python bench/roundtrip.py --data-dir ../shared/data` (`make bench`).",
        "",
        "| storage | bytes per digit | fidelity (PSNR, posterior mean) |",
        "|---|---:|---|",
        *[f"| {name} | {size:.1f} | {fid} |" for name, size, fid in rows],
        "",
        f"- PSNR from the mean squared error over all pixels, peak 1: "
        f"{psnr(originals, decoded):.2f} dB; mean of per-digit PSNR: {np.mean(per_image):.2f} dB.",
        f"- float16 instead of float32 for mu: the PSNR changes by {float16_cost:+.4f} dB.",
        f"- `vaezip encode DIR -o OUT` ({n:,} PNG files -> {n:,} .vz files, whole process): "
        f"{encode_s:.2f} s, **{n / encode_s:,.0f} files/s**.",
        f"- Pillow re-saving the same files as optimised PNG, one process: {pillow_s:.2f} s, "
        f"{n / pillow_s:,.0f} files/s. vaezip is **{pillow_s / encode_s:.2f}x** that speed.",
        f"- `vaezip encode DIR --pack`: {pack_s:.2f} s ({n / pack_s:,.0f} images/s); "
        f"`vaezip decode` of the archive to {n:,} PNG files: {decode_s:.2f} s "
        f"({n / decode_s:,.0f} images/s).",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


def float16_psnr_cost(originals: np.ndarray) -> float:
    """PSNR(decode(float16 mu)) - PSNR(decode(float32 mu)) over the same digits."""
    import torch

    from vaezip.registry import load_model

    model, _ = load_model("mnist-vae-16d")
    x = torch.from_numpy(originals.reshape(len(originals), -1))
    with torch.inference_mode():
        mu, _ = model.encode(x)
        full = model.decode(mu).numpy()
        half = model.decode(mu.half().float()).numpy()
    flat = originals.reshape(len(originals), -1)
    return psnr(flat, half) - psnr(flat, full)


if __name__ == "__main__":
    main()
