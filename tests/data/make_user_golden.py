"""Make tests/data/user/: a tiny model of a user's colour images (16x12 RGBA, local heads,
trained here for two epochs on generated icons), fixed inputs, and the .vz files the CLI
wrote with it (format 11: plain frames in the feature set). tests/test_your_images.py
checks that they decode to the same pixels and re-encode to the same bytes on any
machine. Never rerun to "fix" a failing test; add cases only.

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
}


def main() -> None:
    from tests.conftest import make_icon

    USER.mkdir(exist_ok=True)
    (USER / "in").mkdir(exist_ok=True)
    for i in range(6):
        make_icon(100 + i).save(USER / "in" / f"icon{i:03d}.png")
    from PIL import Image

    Image.new("RGB", (30, 10), (40, 120, 200)).save(USER / "wide.png")
    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "train"
        train.mkdir()
        for i in range(60):
            make_icon(i).save(train / f"{i:03d}.png")
        env = {**os.environ, "VAEZIP_HOME": str(Path(tmp) / "home")}
        vaezip = [sys.executable, "-m", "vaezip"]
        subprocess.run([*vaezip, "train", "--name", MODEL, "--data-dir", str(train),
                        "--epochs", "2", "--hidden", "32,32", "--latent-dim", "4",
                        "--likelihood", "logistic", "--groups", "4", "--context", "1",
                        "-q"], check=True, env=env)
        shutil.copy(Path(tmp) / "home" / "models" / f"{MODEL}.safetensors", USER)
        for name, args in CASES.items():
            subprocess.run([*vaezip, "encode", *args, "-m", MODEL, "-o", name, "-q",
                            "--force"], check=True, env=env, cwd=USER)


if __name__ == "__main__":
    main()
