"""`make figures`: regenerate every figure in docs/figures/ from the shipped models.

Runs the installed `vaezip plot` as a user would. Needs the MNIST test set (--data-dir).
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"
EXAMPLES = HERE.parent / "examples"
VAEZIP = str(Path(sys.executable).with_name("vaezip"))
POST_MODELS = ["mnist-ae-2d", "mnist-vae-2d-mse", "mnist-vae-2d-bce"]


def vaezip(*args: str) -> None:
    print("$ vaezip " + " ".join(args), flush=True)
    subprocess.run([VAEZIP, *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args()
    FIGURES.mkdir(parents=True, exist_ok=True)
    data = ["--data-dir", args.data_dir, "--no-download", "--force"]
    for model in [*POST_MODELS, "mnist-vae-16d", "mnist-vae-binary"]:
        out = lambda kind, m=model: str(FIGURES / f"{kind}-{m}.png")  # noqa: E731
        vaezip("plot", "recon", "-m", model, "-o", out("recon"), *data)
        vaezip("plot", "latent", "-m", model, "--per-digit", "-o", out("latent"), *data)
        vaezip("plot", "samples", "-m", model, "-o", out("samples"), "--force")
        if model in POST_MODELS:
            vaezip("plot", "manifold", "-m", model, "-o", out("manifold"), "--force")
    # The conditional VAE: samples cycling through the digits, and the style space of a 7.
    vaezip("plot", "samples", "-m", "mnist-cvae-8d", "-n", "80", "-o",
           str(FIGURES / "samples-mnist-cvae-8d.png"), "--force")
    vaezip("plot", "manifold", "-m", "mnist-cvae-8d", "--digit", "7", "-n", "12", "-o",
           str(FIGURES / "manifold-7-mnist-cvae-8d.png"), "--force")
    # Interpolation between the two example digits (a 7 and a 2), through the default model.
    codes = FIGURES / "codes"
    vaezip("encode", str(EXAMPLES / "seven.png"), str(EXAMPLES / "two-on-paper.png"),
           "-o", str(codes), "--force", "--quiet")
    for how in ("line", "spherical"):
        extra = ["--spherical"] if how == "spherical" else []
        vaezip("plot", "interpolate", str(codes / "seven.vz"), str(codes / "two-on-paper.vz"),
               "-n", "12", *extra, "-o", str(FIGURES / f"interpolate-{how}.png"), "--force")
    for path in codes.iterdir():
        path.unlink()
    codes.rmdir()


if __name__ == "__main__":
    main()
