"""Make tests/data/user/: a tiny model of a user's colour images (16x12 RGBA, local heads,
trained here for two epochs on generated icons), fixed inputs, and the .vz files the CLI
wrote with it (format 11: plain frames in the feature set). tests/test_your_images.py
checks that they decode to the same pixels and re-encode to the same bytes on any
machine. Never rerun to "fix" a failing test; add cases only: what is already there (the
model, the inputs, the files) is kept, and only what is missing is written.

Run from the repo root: .venv/bin/python tests/data/make_user_golden.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER = HERE / "user"
sys.path.insert(0, str(HERE.parent.parent))

MODEL = "tiny-icons"
CASES = {
    "lossless-pack.vz": ["in", "--pack", "--lossless"],
    "lossless-one.vz": ["in/icon003.png", "--lossless"],
    "near-pack.vz": ["in", "--pack", "--max-error", "3"],
    "lossy-pack.vz": ["in", "--pack"],
    "lossy-wide.vz": ["wide.png"],
    # --visible: colour under transparent pixels is free (hidden/ has noise there)
    "visible-pack.vz": ["hidden", "--pack", "--max-error", "3", "--visible"],
}


def hidden_icon(seed: int):
    """An icon with random colour under its transparent pixels, as real icons have."""
    import numpy as np
    from PIL import Image

    from tests.conftest import make_icon

    pixels = np.array(make_icon(seed))
    noise = np.random.default_rng(seed).integers(0, 256, pixels.shape, np.uint8)
    hidden = pixels[..., 3] == 0
    pixels[hidden, :3] = noise[hidden, :3]
    return Image.fromarray(pixels, "RGBA")


def main() -> None:
    from PIL import Image

    from tests.conftest import make_icon

    inputs = {f"in/icon{i:03d}.png": lambda i=i: make_icon(100 + i) for i in range(6)}
    inputs |= {f"hidden/icon{i:03d}.png": lambda i=i: hidden_icon(200 + i) for i in range(4)}
    inputs["wide.png"] = lambda: Image.new("RGB", (30, 10), (40, 120, 200))
    for name, make in inputs.items():
        if not (USER / name).exists():
            (USER / name).parent.mkdir(parents=True, exist_ok=True)
            make().save(USER / name)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "VAEZIP_HOME": str(home)}
        vaezip = [sys.executable, "-m", "vaezip"]
        model = USER / f"{MODEL}.safetensors"
        if not model.exists():
            train = Path(tmp) / "train"
            train.mkdir()
            for i in range(60):
                make_icon(i).save(train / f"{i:03d}.png")
            subprocess.run([*vaezip, "train", "--name", MODEL, "--data-dir", str(train),
                            "--epochs", "2", "--hidden", "32,32", "--latent-dim", "4",
                            "--likelihood", "logistic", "--groups", "4", "--context", "1",
                            "-q"], check=True, env=env)
            shutil.copy(home / "models" / model.name, USER)
        (home / "models").mkdir(parents=True, exist_ok=True)
        shutil.copy(model, home / "models")
        for name, args in CASES.items():
            if not (USER / name).exists():
                subprocess.run([*vaezip, "encode", *args, "-m", MODEL, "-o", name, "-q"],
                               check=True, env=env, cwd=USER)


if __name__ == "__main__":
    main()
