"""The "Your images" benchmark (issue 29): vaezip against the classical codecs on a folder
of test images it has never seen, through the CLI, with models trained by the README's
commands.

    python bench/your_images.py prepare            # the two datasets as folders
    python bench/your_images.py measure NAME TEST_DIR --lossless-model M --lossy-model L
        [--max-error N ...] [--visible N ...]   # near-lossless runs, plain and --visible
    python bench/your_images.py warned MODEL FOLDER   # the share that encode warns about

`make your-images` runs the whole benchmark with the README's training commands.

prepare writes, under bench/data/ (not in git):
  fashion/train, fashion/test   Fashion-MNIST (Debian's dataset-fashion-mnist) as PNGs:
                                all 60,000 training images, the first 1,000 test images
  oxygen/train, oxygen/test     the Oxygen icon theme's 32x32 PNGs (oxygen-icon-theme),
                                as RGBA, each distinct icon once (by its pixels); an icon
                                is a test icon when the first byte of the SHA-256 of its
                                RGBA pixels is below 26 (training/folders.py's rule)

measure codes TEST_DIR every way and prints one JSON object of bytes, bits per subpixel
and PSNR (over white, as a viewer sees an image with alpha). Needs optipng, cwebp, xz.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
VAEZIP = [sys.executable, "-m", "vaezip"]
OXYGEN = Path("/usr/share/icons/oxygen/base/32x32")
FASHION = Path("/usr/share/datasets/fashion-mnist")


def prepare() -> None:
    for split, prefix, count in (("train", "train", None), ("test", "t10k", 1000)):
        with gzip.open(FASHION / f"{prefix}-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        out = DATA / "fashion" / split
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images[:count]):
            Image.fromarray(image, "L").save(out / f"{i:05d}.png")
    seen = set()
    for path in sorted(OXYGEN.rglob("*.png")):
        image = Image.open(path).convert("RGBA")
        if image.size != (32, 32):
            continue
        digest = hashlib.sha256(image.tobytes()).digest()
        if digest in seen:
            continue
        seen.add(digest)
        out = DATA / "oxygen" / ("test" if digest[0] < 26 else "train")
        out.mkdir(parents=True, exist_ok=True)
        image.save(out / f"{path.parent.name}-{path.name}")
    for name in ("fashion", "oxygen"):
        for split in ("train", "test"):
            print(name, split, len(list((DATA / name / split).iterdir())), file=sys.stderr)


def _over_white(image: Image.Image) -> np.ndarray:
    rgba = np.asarray(image.convert("RGBA"), np.float64)
    alpha = rgba[..., 3:] / 255
    return rgba[..., :3] * alpha + 255 * (1 - alpha)


def psnr(originals: list[Image.Image], decoded: list[Image.Image]) -> float:
    """PSNR over all the images' pixels, composited over white."""
    a = np.stack([_over_white(i) for i in originals])
    b = np.stack([_over_white(i) for i in decoded])
    return float(10 * np.log10(255**2 / np.mean((a - b) ** 2)))


def _run(*args) -> None:
    subprocess.run([str(a) for a in args], check=True, capture_output=True)


def measure(test_dir: Path, lossless_model: str | None, lossy_model: str | None,
            max_errors: list[int], visible: list[int]) -> dict:
    paths = sorted(test_dir.glob("*.png"))
    images = [Image.open(p) for p in paths]
    for image in images:
        image.load()
    channels = len(images[0].getbands())
    subpixels = len(images) * images[0].size[0] * images[0].size[1] * channels
    raw = b"".join(i.tobytes() for i in images)
    result = {"images": len(images), "subpixels": subpixels, "bytes": {}, "psnr": {}}
    b = result["bytes"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        b["png"] = sum(p.stat().st_size for p in paths)
        opt = tmp / "optipng"
        opt.mkdir()
        for p in paths:
            shutil.copy(p, opt / p.name)
        _run("optipng", "-quiet", "-o7", *sorted(opt.glob("*.png")))
        b["png_optipng_o7"] = sum(p.stat().st_size for p in opt.glob("*.png"))
        b["xz_9e_raw"] = len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w") as t:
            for p in sorted(opt.glob("*.png")):
                t.add(p, arcname=p.name)
        b["tar_png_xz_9e"] = len(lzma.compress(tar.getvalue(), preset=9 | lzma.PRESET_EXTREME))
        webp = 0
        for p in paths:
            _run("cwebp", "-quiet", "-lossless", "-z", "9", "-exact", p, "-o", tmp / "l.webp")
            webp += (tmp / "l.webp").stat().st_size
        b["webp_lossless_z9"] = webp
        webp, decoded = 0, []
        for p in paths:
            _run("cwebp", "-quiet", "-q", "50", p, "-o", tmp / "q.webp")
            webp += (tmp / "q.webp").stat().st_size
            decoded.append(Image.open(tmp / "q.webp").convert("RGBA"))
        b["webp_q50"] = webp
        result["psnr"]["webp_q50"] = psnr(images, decoded)
        runs = []
        if lossless_model:
            runs.append(("vaezip_lossless", lossless_model, ["--lossless"]))
            runs += [(f"vaezip_max_error_{n}", lossless_model, ["--max-error", str(n)])
                     for n in max_errors]
            runs += [(f"vaezip_max_error_{n}_visible", lossless_model,
                      ["--max-error", str(n), "--visible"]) for n in visible]
        if lossy_model:
            runs.append(("vaezip_lossy", lossy_model, []))
        result["seconds"] = {}
        for key, model, flags in runs:
            archive = tmp / f"{key}.vz"
            start = time.perf_counter()
            _run(*VAEZIP, "encode", test_dir, "--pack", "-m", model, *flags, "-o", archive,
                 "-q", "--force")
            result["seconds"][key] = round(time.perf_counter() - start, 1)
            out = tmp / f"{key}-out"
            _run(*VAEZIP, "decode", archive, "-o", out, "-q", "--force")
            back = [Image.open(out / p.name) for p in paths]
            b[key] = archive.stat().st_size
            if key == "vaezip_lossless":
                result["lossless_exact"] = all(
                    x.tobytes() == y.tobytes() and x.mode == y.mode
                    for x, y in zip(images, back, strict=True))
            else:
                result["psnr"][key] = psnr(images, back)
    result["bits_per_subpixel"] = {k: round(8 * v / subpixels, 4) for k, v in b.items()}
    return result


def warned(model: str, folder: Path) -> dict:
    """The share of a folder's images that `encode` warns about with model (its "not like
    the training data" score above 1), through the same framing as encode."""
    from vaezip.frames.framing import prepare as frame
    from vaezip.models.runtime import load

    net = load(model)
    paths = sorted(folder.glob("*.png"))
    pixels = np.stack([frame(net.config, p, p.name).pixels for p in paths])
    scores = net.nondigit_scores(pixels)
    return {"model": model, "folder": str(folder), "images": len(paths),
            "warned": int((scores > 1).sum()), "share": round(float((scores > 1).mean()), 4)}


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"]:
        prepare()
    elif sys.argv[1:2] == ["warned"]:
        result = warned(sys.argv[2], Path(sys.argv[3]))
        store = HERE / "results" / "your_images_warned.json"
        table = json.loads(store.read_text()) if store.exists() else {}
        table[f"{result['model']} on {result['folder']}"] = result
        store.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        print(json.dumps(result))
    else:
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("command")
        parser.add_argument("name")
        parser.add_argument("test_dir", type=Path)
        parser.add_argument("--lossless-model")
        parser.add_argument("--lossy-model")
        parser.add_argument("--max-error", type=int, nargs="*", default=[1, 2, 4])
        parser.add_argument("--visible", type=int, nargs="*", default=[],
                            help="max errors to run with --visible too (frames with alpha)")
        a = parser.parse_args()
        result = {"dataset": a.name, **measure(a.test_dir, a.lossless_model, a.lossy_model,
                                                a.max_error, a.visible)}
        text = json.dumps(result, indent=2)
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / f"your_images_{a.name}.json").write_text(text + "\n")
        print(text)
