"""Rate against fidelity on the 10,000 MNIST test digits: vaezip's modes and quality levels
against Pillow's optimised PNG, lossless WebP, and lossy WebP and JPEG at several qualities.
(WebP's near-lossless mode is not measured: Pillow does not expose it, and no cwebp here.)

For every codec: bytes per digit (one file per digit; for vaezip also one packed
archive), PSNR (peak 1, from the mean squared error over all pixels), SSIM (Wang et al.
2004: 11x11 Gaussian window, sigma 1.5, mean over each digit's valid region, then over
digits), and semantic fidelity: the fraction of decoded digits that a CNN classifier,
trained by this benchmark on the MNIST training set, labels as it labels the original.
vaezip's files are made and read by the same functions the CLI calls (pipeline.py), and
one CLI round trip of the default setting checks that the two agree byte for byte.

Run: python bench/compress.py --data-dir ../shared/data   (also `make bench`)
Writes bench/results/compress.md and .json, and docs/figures/rate-fidelity.png.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from classifier import cached_classifier
from common import VAEZIP, mnist_test_digits, vaezip_batch, write_pngs
from judge import load_judge
from PIL import Image

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "compress"
FIGURE = HERE.parent / "docs" / "figures" / "rate-fidelity.png"
WEBP_QUALITIES = (0, 5, 10, 25, 50, 75)
JPEG_QUALITIES = (5, 10, 25, 50, 75)
NEAR_LOSSLESS = (16, 8, 4, 2, 1)  # --max-error settings


def psnr(a: np.ndarray, b: np.ndarray) -> float | None:
    """PSNR in dB, peak 1; None where the images are identical (lossless)."""
    mse = float(np.mean((a - b) ** 2))
    return None if mse == 0 else round(10 * np.log10(1.0 / mse), 3)


def _gaussian_valid(size: int, window: int = 11, sigma: float = 1.5) -> np.ndarray:
    """[size - window + 1, size]: a 'valid' 1-D Gaussian filter as a matrix."""
    g = np.exp(-0.5 * ((np.arange(window) - window // 2) / sigma) ** 2)
    g /= g.sum()
    out = np.zeros((size - window + 1, size))
    for i in range(len(out)):
        out[i, i : i + window] = g
    return out


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of [N, H, W] images in [0, 1] (data range 1, K1 0.01, K2 0.03)."""
    f = _gaussian_valid(a.shape[1])

    def blur(x):
        return np.einsum("ij,njk,lk->nil", f, x, f)

    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
         / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(s.mean(axis=(1, 2)).mean())


def pillow_codec(digits: np.ndarray, **save) -> tuple[float, np.ndarray]:
    """(mean bytes per digit, decoded digits float [N, 28, 28] in [0, 1])."""
    sizes, decoded = [], []
    for d in digits:
        buffer = io.BytesIO()
        Image.fromarray(d).save(buffer, **save)
        sizes.append(buffer.tell())
        buffer.seek(0)
        decoded.append(np.asarray(Image.open(buffer).convert("L")))
    return float(np.mean(sizes)), np.stack(decoded).astype(np.float32) / 255


def vaezip_codec(model_name: str, quality: int | None, pngs: list[bytes], guard: bool = False
                 ) -> tuple[float, float, np.ndarray, bytes]:
    """(bytes per digit one file each, bytes per digit packed, decoded digits, archive),
    through the functions `vaezip encode` and `vaezip decode` run, from PNG bytes to
    decoded images. quality None: the float layout. guard: with the identity guard (the
    default where the model has one), else as `--no-guard`."""
    import vaezip
    from vaezip.codecs.guard import guarded_single_files
    from vaezip.pipeline import EncodeOptions, encode_batch

    options = EncodeOptions(model=model_name, quality=quality, float_latents=quality is None,
                            guard=guard)
    codec = options.codec()
    plan = options.guard_plan(codec)
    batch = vaezip_batch(codec, pngs)
    # The framed archive `encode --pack` writes; the float layout is not framed.
    archive = (codec.file_bytes(batch, packed=True) if quality is None
               else encode_batch(codec, plan, batch, packed=True)[0][0])
    single = np.mean([len(data) for data in guarded_single_files(codec, plan, batch)[0]])
    decoded = np.stack([np.asarray(image, np.float32)
                        for _, image in vaezip.open(archive)]) / 255
    return float(single), len(archive) / len(pngs), decoded, archive


def png_files(digits: np.ndarray) -> list[bytes]:
    """The digits as optimised PNG files, in memory: what users would hand to vaezip."""
    out = []
    for d in digits:
        buffer = io.BytesIO()
        Image.fromarray(d).save(buffer, format="PNG", optimize=True)
        out.append(buffer.getvalue())
    return out


def vaezip_exact(digits: np.ndarray, max_error: int | None = None, singles: int = 500
                 ) -> tuple[float, float, np.ndarray]:
    """Lossless (max_error None) or near-lossless: (bytes per digit one file each (first
    `singles` digits), packed, decoded digits). Checks every pixel against the bound."""
    import vaezip
    from vaezip.pipeline import EncodeOptions, encode_batch

    codec = EncodeOptions(lossless=max_error is None, max_error=max_error).codec()
    batch = vaezip_batch(codec, list(digits))
    archive = encode_batch(codec, None, batch, packed=True)[0][0]
    single = np.mean([len(data) for data in codec.single_files(batch[:singles])])
    decoded = np.stack([np.asarray(image) for _, image in vaezip.open(archive)])
    error = int(np.abs(decoded.astype(int) - digits.astype(int)).max())
    if error > (max_error or 0):
        raise SystemExit(f"max error {max_error}: a pixel came back {error} levels off")
    return float(single), len(archive) / len(digits), decoded.astype(np.float32) / 255


def cli_check(model: str, quality: int, digits: np.ndarray, archive: bytes) -> str:
    """`vaezip encode DIR --pack` (identity guard on) gives the bytes this benchmark
    measured."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "png"
        write_pngs(digits, src)
        out = Path(tmp) / "all.vz"
        subprocess.run([VAEZIP, "encode", str(src), "--pack", "-o", str(out), "-m", model,
                        "-Q", str(quality), "-q"], check=True)
        same = out.read_bytes() == archive
    if not same:
        raise SystemExit("the CLI's archive differs from the benchmark's: fix the benchmark")
    return f"`vaezip encode DIR --pack -m {model} -Q {quality}` wrote the same bytes"


def coded_models() -> list[str]:
    from vaezip.models.registry import list_models

    # A pixel-group model's latent carries almost nothing (its decoder leans on the pixels
    # decoded before): it codes (near-)losslessly only, so it has no lossy rows.
    return [e.name for e in list_models()
            if e.kind == "shipped" and e.codec and not e.config.groups]


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    families: dict[str, list[dict]] = {}
    for r in rows:
        families.setdefault(r["family"], []).append(r)
    for i, (family, points) in enumerate(families.items()):
        points = sorted(points, key=lambda r: r["bytes_packed"] or r["bytes_single"])
        x = [r["bytes_packed"] or r["bytes_single"] for r in points]
        style = dict(marker="o" if len(points) > 1 else "s", ls="-" if len(points) > 1 else "",
                     color=f"C{i % 10}", label=family, ms=4)
        left.plot(x, [100 * r["agreement"] for r in points], **style)
        if points[0]["psnr"] is not None:  # lossless codecs have no PSNR to draw
            right.plot(x, [r["psnr"] for r in points], **style)
    for ax, label in ((left, "classifier agreement (%)"), (right, "PSNR (dB)")):
        ax.set_xscale("log")
        ax.set_xlabel("bytes per digit (vaezip: packed archive; others: one file each)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    left.axhline(97, color="gray", lw=0.8, ls="--")
    left.axhline(99, color="gray", lw=0.8, ls=":")
    left.set_ylim(90, 100.2)
    left.legend(fontsize=7, loc="lower right")
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle("Rate against fidelity on the 10,000 MNIST test digits")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="first N test digits")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    from vaezip.codecs.entropy import DEFAULT_QUALITY, QUALITY_STEPS
    from vaezip.models.registry import DEFAULT_MODEL, LOSSLESS_MODEL, NEAR_LOSSLESS_MODEL

    digits = mnist_test_digits(args.data_dir, args.limit)
    originals = digits.astype(np.float32) / 255
    classifier, accuracy = cached_classifier(args.data_dir)
    reference = classifier.predict(torch.from_numpy(originals)).numpy()
    independent, independent_meta = load_judge()
    independent_reference = independent.predict(torch.from_numpy(originals)).numpy()
    rows: list[dict] = []

    def add(family, setting, single, packed, decoded, seconds):
        flat = torch.from_numpy(decoded.reshape(len(decoded), -1))
        labels = classifier.predict(flat)
        independent_labels = independent.predict(flat).numpy()
        rows.append(dict(family=family, setting=setting, bytes_single=round(single, 2),
                         bytes_packed=None if packed is None else round(packed, 2),
                         psnr=psnr(originals, decoded),
                         ssim=round(ssim(originals, decoded), 4),
                         agreement=round(float((labels.numpy() == reference).mean()), 4),
                         agreement_independent_judge=round(float(
                             (independent_labels == independent_reference).mean()), 4),
                         seconds=round(seconds, 2)))
        print(rows[-1], flush=True)

    for family, setting, save in (
        [("PNG (optimised)", "lossless", dict(format="PNG", optimize=True)),
         ("WebP lossless", "method 6", dict(format="WEBP", lossless=True, quality=100,
                                             method=6))]
        + [("WebP lossy", f"q{q}", dict(format="WEBP", quality=q, method=6))
           for q in WEBP_QUALITIES]
        + [("JPEG", f"q{q}", dict(format="JPEG", quality=q, optimize=True))
           for q in JPEG_QUALITIES]
    ):
        start = time.perf_counter()
        size, decoded = pillow_codec(digits, **save)
        add(family, setting, size, None, decoded, time.perf_counter() - start)

    check = ""
    pngs = png_files(digits)
    from vaezip.codecs.guard import load_guard
    from vaezip.models.registry import find

    for model in coded_models():
        guarded = load_guard(find(model)) is not None
        for quality in [None, *QUALITY_STEPS]:
            # Where the model has an identity guard, its coded settings are measured with
            # it (the default) and without (--no-guard).
            for guard in [False, True] if guarded and quality is not None else [False]:
                start = time.perf_counter()
                single, packed, decoded, archive = vaezip_codec(model, quality, pngs, guard)
                setting = "float16 mu, sigma" if quality is None else f"-Q {quality}"
                family = f"vaezip {model}" + (" (float)" if quality is None else "") + (
                    " (identity guard)" if guard else " --no-guard"
                    if guarded and quality is not None else "")
                add(family, setting, single, packed, decoded, time.perf_counter() - start)
                if model == DEFAULT_MODEL and quality == DEFAULT_QUALITY and guard:
                    check = cli_check(model, quality, digits, archive)

    for max_error in NEAR_LOSSLESS:
        start = time.perf_counter()
        single, packed, decoded = vaezip_exact(digits, max_error)
        add(f"vaezip --max-error ({NEAR_LOSSLESS_MODEL})", f"-e {max_error}", single, packed,
            decoded, time.perf_counter() - start)
    start = time.perf_counter()
    single, packed, decoded = vaezip_exact(digits)
    add(f"vaezip --lossless ({LOSSLESS_MODEL})", "bits-back", single, packed, decoded,
        time.perf_counter() - start)

    n = len(digits)
    lines = [
        f"# Rate against fidelity on {n:,} MNIST test digits",
        "",
        f"{platform.machine()}, Python {platform.python_version()}. Command: "
        "`python bench/compress.py --data-dir ../shared/data` (`make bench`). The judge: a "
        f"CNN trained on the MNIST training set by the benchmark, {accuracy:.2%} test "
        "accuracy; agreement = decoded digit labelled as the original is. That judge and "
        "the identity guard's reader share a training loop and data, so the independent "
        "judge's agreement stands beside it (bench/judge.py: another family, its own recipe "
        f"and loop, trained once; {independent_meta['test_accuracy']:.2%} test accuracy). "
        "PSNR peak 1 from "
        "the MSE over all pixels; SSIM 11x11 Gaussian window. vaezip decodes the posterior "
        f"mean. {check}.",
        "",
        "| codec | setting | bytes/digit, one file each | bytes/digit, packed | PSNR dB "
        "| SSIM | agreement | agreement, independent judge | seconds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['setting']} | {r['bytes_single']:.1f} | "
            + ("—" if r["bytes_packed"] is None else f"{r['bytes_packed']:.2f}")
            + f" | {'lossless' if r['psnr'] is None else format(r['psnr'], '.2f')} | "
            f"{r['ssim']:.4f} | {100 * r['agreement']:.2f}% | "
            f"{100 * r['agreement_independent_judge']:.2f}% | {r['seconds']:.1f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")
    RESULTS.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    plot(rows, FIGURE)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
