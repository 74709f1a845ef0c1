"""Lossless coding of the 10,000 MNIST test digits: vaezip's bits-back coder against PNG,
lossless WebP, the general-purpose compressors and the published results.

For each lossless model (--models; default: the --lossless default and the models it
replaced), vaezip packs all 10,000 digits into the framed archive `vaezip encode --lossless --pack`
writes (pipeline.encode_batch: the same bytes, which the benchmark checks), reads it back
frame by frame, and checks every pixel. The
rate is quoted next to the model's negative ELBO on the same digits (one posterior sample
per image, seeded): their difference is what bits-back coding costs over the ideal. Speed
per core is that in-process round trip with BLAS held to one thread; `-T 2` times the CLI
(`encode DIR --pack --lossless -T 2`, then `decode -T 2`) on the digits as PNG files,
process start included. Single files are measured on the first --single digits. PNG and
WebP are per image; gzip, bzip2 and LZMA compress the whole test set as one stream.

Run: python bench/lossless.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/lossless.md and .json.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import lzma
import math
import platform
import shutil
import time
from pathlib import Path

import numpy as np
from common import (
    VAEZIP,
    mean_encoded_size,
    mnist_test_digits,
    run_measured,
    vaezip_batch,
    write_pngs,
    write_results,
)

RESULTS = Path(__file__).resolve().parent / "results" / "lossless"
CACHE = Path(__file__).resolve().parent / ".cache" / "lossless"
# Published rates on 28x28 8-bit MNIST, bits/dim, with what each number is.
PUBLISHED = [
    ("BB-ANS (Townsend, Bird & Barber, ICLR 2019)", 1.41, "coded"),
    ("Bit-Swap (Kingma, Abbeel & Ho, ICML 2019)", 1.29,
     "coded, per pixel of MNIST padded to 32x32 (their code's transforms.Pad(2))"),
    ("HCLT probabilistic circuit (Liu, Mandt & Van den Broeck, ICLR 2022)", 1.20, "coded"),
    ("Sparse probabilistic circuit (Dang, Liu & Van den Broeck, NeurIPS 2022)", 1.14,
     "model likelihood, not coded"),
]


def neg_elbo_bits_per_dim(model_name: str, digits: np.ndarray) -> float:
    """The model's -ELBO on these digits (torch, one seeded posterior sample per image)."""
    import torch

    from vaezip.models.registry import load_model
    from vaezip.training.evaluate import evaluate

    model, _ = load_model(model_name)
    x = torch.from_numpy(digits.reshape(len(digits), -1).astype(np.float32) / 255)
    return evaluate(model, x, seed=0)["neg_elbo"] / (x.shape[1] * math.log(2))


def measure_model(name: str, digits: np.ndarray, pngs: Path, single: int) -> dict:
    """One model: the packed rate, -ELBO, speed on one core and with -T 2, single files."""
    from threadpoolctl import threadpool_limits

    from vaezip.format import archive as framed
    from vaezip.pipeline import EncodeOptions, encode_batch

    n, dims = len(digits), digits[0].size
    codec = EncodeOptions(lossless=True, model=name).codec()
    batch = vaezip_batch(codec, list(digits))
    with threadpool_limits(1):  # one core
        start = time.perf_counter()
        # the bytes `encode --pack` writes
        archive = encode_batch(codec, None, batch, packed=True)[0][0]
        encode_seconds = time.perf_counter() - start
        start = time.perf_counter()
        reader = framed.ArchiveReader(archive, "test.vz")
        decoded = np.concatenate([codec.decode(reader.frame(i), "test.vz").levels
                                  for i in range(len(reader.frames))])  # checks each CRC
        decode_seconds = time.perf_counter() - start
    if not np.array_equal(decoded, digits.reshape(n, -1)):
        raise SystemExit(f"{name}: lossless round trip failed: decoded pixels differ")
    out = CACHE / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cli_encode, _ = run_measured([VAEZIP, "encode", str(pngs), "--pack", "--lossless", "-m",
                                  name, "-T", "2", "-o", str(out / "a.vz"), "-q"])
    cli_decode, _ = run_measured([VAEZIP, "decode", str(out / "a.vz"), "-T", "2", "-o",
                                  str(out / "d"), "-q"])
    if (out / "a.vz").read_bytes() != archive:
        raise SystemExit(f"{name}: the CLI's archive differs from the one made in process")
    files = [len(f) for f in encode_batch(codec, None, batch[:single], packed=False)[0]]
    bpd = 8 * len(archive) / (n * dims)
    elbo = neg_elbo_bits_per_dim(name, digits)
    return {"bits_per_dim": round(bpd, 4), "neg_elbo_bits_per_dim": round(elbo, 4),
            "overhead": round(bpd - elbo, 4), "archive_bytes": len(archive),
            "single_file_bits_per_dim": round(8 * float(np.mean(files)) / dims, 3),
            "encode_images_per_second_one_core": round(n / encode_seconds, 1),
            "decode_images_per_second_one_core": round(n / decode_seconds, 1),
            "encode_images_per_second_T2": round(len(digits) / cli_encode, 1),
            "decode_images_per_second_T2": round(len(digits) / cli_decode, 1),
            "training": _training(name)}


def _training(name: str) -> str:
    from vaezip.models.registry import find

    t = find(name).training
    return (f"{t.get('epochs')} epochs x {t.get('seconds_per_epoch')} s "
            f"({t.get('epochs', 0) * t.get('seconds_per_epoch', 0) / 60:.0f} min)") if t else ""


def main() -> None:
    from vaezip.models.registry import LOSSLESS_MODEL, NEAR_LOSSLESS_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="first N test digits")
    parser.add_argument("--single", type=int, default=500, help="digits coded one file each")
    parser.add_argument("--models", nargs="+", default=[LOSSLESS_MODEL, NEAR_LOSSLESS_MODEL,
                                                        "mnist-vae-lossless-16g",
                                                        "mnist-vae-lossless"])
    args = parser.parse_args()
    digits = mnist_test_digits(args.data_dir, args.limit)
    n = len(digits)
    pngs = CACHE / f"test-{n}"
    if not pngs.is_dir() or len(list(pngs.iterdir())) != n:
        shutil.rmtree(pngs, ignore_errors=True)
        write_pngs(digits, pngs)
    models = {name: measure_model(name, digits, pngs, min(args.single, n))
              for name in dict.fromkeys(args.models)}
    raw = digits.tobytes()
    baselines = {
        "PNG (Pillow, optimize), per image": 8 * mean_encoded_size(digits, format="PNG",
                                                           optimize=True) / digits[0].size,
        "WebP lossless (method 6), per image": 8 * mean_encoded_size(
            digits, format="WEBP", lossless=True, quality=100, method=6) / digits[0].size,
        "gzip -9, whole set": 8 * len(gzip.compress(raw, 9)) / len(raw),
        "bzip2 -9, whole set": 8 * len(bz2.compress(raw, 9)) / len(raw),
        "LZMA (xz -9e), whole set": 8 * len(lzma.compress(
            raw, preset=9 | lzma.PRESET_EXTREME)) / len(raw),
    }
    result = {"images": n, "default": LOSSLESS_MODEL, "exact": True, "models": models,
              "baselines": {k: round(v, 4) for k, v in baselines.items()},
              "published": [{"what": w, "bits_per_dim": b, "note": note}
                            for w, b, note in PUBLISHED]}
    lines = [
        f"# Lossless coding of {n:,} MNIST test digits",
        "",
        f"{platform.machine()}, Python {platform.python_version()}. Command: `python "
        "bench/lossless.py --data-dir ../shared/data` (`make bench`). Every pixel of every "
        "archive decoded back exactly (the benchmark stops otherwise).",
        "",
        "| coder | bits per dimension |",
        "|---|---:|",
        *[f"| vaezip --lossless --pack, {name}{' (default)' if name == LOSSLESS_MODEL else ''} "
          f"| **{m['bits_per_dim']:.4f}** |" for name, m in models.items()],
        *[f"| vaezip --lossless, one file each (first {min(args.single, n)}), {name} "
          f"| {m['single_file_bits_per_dim']:.3f} |" for name, m in models.items()],
        *[f"| {k} | {v:.3f} |" for k, v in baselines.items()],
        *[f"| {w}: published, {note} | {b:.2f} |" for w, b, note in PUBLISHED],
        "",
        "| model | -ELBO (bits/dim) | coded | overhead | encode, 1 core | decode, 1 core "
        "| encode -T 2 | decode -T 2 | training |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        *[f"| {name} | {m['neg_elbo_bits_per_dim']:.4f} | {m['bits_per_dim']:.4f} "
          f"| {m['overhead']:+.4f} | {m['encode_images_per_second_one_core']:.0f}/s "
          f"| {m['decode_images_per_second_one_core']:.0f}/s "
          f"| {m['encode_images_per_second_T2']:.0f}/s | {m['decode_images_per_second_T2']:.0f}/s "
          f"| {m['training']} |" for name, m in models.items()],
        "",
        "The overhead is what coding costs over the -ELBO: z on bins of 1/128, integer grids "
        "for the network outputs, the 64-byte seed, ANS. Images/s on one core: the "
        "in-process round trip with BLAS held to one thread; -T 2: the CLI on PNG files, "
        "process start and PNG reading/writing included.",
        "",
    ]
    write_results(RESULTS, lines, result)


if __name__ == "__main__":
    main()
