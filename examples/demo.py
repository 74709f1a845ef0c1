"""`make demo`: vaezip's main job on the example digits, offline, with the sizes side by side.

Runs the installed `vaezip` command as a user would: sample from the default model,
encode two example digits (an MNIST digit and a black-on-white drawing) to .vz, decode
them back, then compares each original, the optimised PNG it replaces, and the .vz;
last, a lossless round trip of the MNIST digit.
"""

import io
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
OUT = Path("demo-out")
VAEZIP = str(Path(sys.executable).with_name("vaezip"))


def run(*args: str) -> None:
    print("$ vaezip " + " ".join(args), flush=True)
    subprocess.run([VAEZIP, *args], check=True)


def optimised_png_size(path: Path) -> int:
    buffer = io.BytesIO()
    Image.open(path).save(buffer, format="PNG", optimize=True)
    return len(buffer.getvalue())


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    examples = [HERE / "seven.png", HERE / "two-on-paper.png"]
    run("sample", "-n", "16", "-o", str(OUT / "samples.png"), "--seed", "0")
    run("encode", *map(str, examples), "-o", str(OUT), "--quiet")
    run("decode", *[str(OUT / (p.stem + ".vz")) for p in examples], "-o", str(OUT / "decoded"),
        "--quiet")
    print(f"\n{'image':<18}{'size':>9}{'original':>10}{'as PNG':>9}{'.vz':>6}  decoded")
    for path in examples:
        vz = OUT / (path.stem + ".vz")
        decoded = OUT / "decoded" / (path.stem + ".png")
        image, back = Image.open(path), Image.open(decoded)
        size = f"{image.size[0]}x{image.size[1]}"
        print(f"{path.name:<18}{size:>9}{path.stat().st_size:>10,}"
              f"{optimised_png_size(path):>9,}{vz.stat().st_size:>6}  {decoded} "
              f"({back.size[0]}x{back.size[1]} {back.mode})")
    lossless = OUT / "seven-lossless.vz"
    run("encode", "--lossless", str(HERE / "seven.png"), "-o", str(lossless), "--quiet")
    run("decode", str(lossless), "-o", str(OUT / "seven-lossless.png"), "--quiet")
    same = (Image.open(HERE / "seven.png").tobytes()
            == Image.open(OUT / "seven-lossless.png").tobytes())
    print(f"\nseven.png --lossless: {lossless.stat().st_size} B, every pixel back: {same}")
    print(f"\nSamples in {OUT / 'samples.png'}; .vz files and decoded images in {OUT}/")


if __name__ == "__main__":
    main()
