"""Make tests/data/golden/: fixed inputs, and the .vz files the CLI wrote for them.

golden/out/ holds what the vaezip that made them decoded them to. The .vz files were
written by the vaezip of commit 289e43f (before the codec interface of issue 13), except
the lossless4-* files (format 4, issue 14), the framed-* files (format 5, issue 15), the
scored-* files (format 6, issue 16), the near-* files (format 7, issue 18), the groups-*
files (issue 17), the short-* files (format 8, issue 18), the guarded-* files (format 9,
issue 18; guarded-lite-* since the guard's fallback changed), the compact-* files
(format 10, issue 17) and the local-* files (the local-head model of issue 30).
tests/test_golden.py checks that today's encoder writes the same bytes (SUPERSEDED lists
the files a newer format replaced) and that every one of them still decodes. Rerun this
only to add cases, never to "fix" a failing golden test: a changed byte is a format
change, and format changes bump the version (docs/FORMAT.md). Existing files are never
rewritten.

Run from the repo root: .venv/bin/python tests/data/make_golden.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
sys.path.insert(0, str(HERE.parent))

# What each golden file is: output name -> encode arguments (inputs relative to golden/in).
CASES: dict[str, list[str]] = {
    "coded-seven.vz": ["in/seven.png"],
    "coded-on-paper.vz": ["in/two-on-paper.png"],
    "coded-alpha.vz": ["in/alpha.png"],
    "coded-q8-sixteen.vz": ["in/sixteen.png", "-Q", "8"],
    "coded-pack.vz": ["in/digits", "--pack"],
    "coded-pack-q1.vz": ["in/digits", "--pack", "-Q", "1"],
    "float-seven.vz": ["in/seven.png", "--float"],
    "float-pack.vz": ["in/digits", "--pack", "--float"],
    "float-ae.vz": ["in/seven.png", "-m", "mnist-ae-2d"],
    "float-cvae.vz": ["in/seven.png", "-m", "mnist-cvae-8d", "--digit", "7"],
    "lossless-seven.vz": ["in/digits/d0.png", "--lossless"],
    "lossless-pack.vz": ["in/digits", "--pack", "--lossless"],
    # Format 4 (issue 14): lossless with integer arithmetic, the same bytes on any machine.
    "lossless4-seven.vz": ["in/digits/d0.png", "--lossless", "-m", "mnist-vae-lossless"],
    "lossless4-pack.vz": ["in/digits", "--pack", "--lossless", "-m", "mnist-vae-lossless"],
    # Format 5 (issue 15): framed archives.
    "framed-pack.vz": ["in/digits", "--pack"],
    "framed-pack-q1.vz": ["in/digits", "--pack", "-Q", "1"],
    "framed-lossless-pack.vz": ["in/digits", "--pack", "--lossless", "-m", "mnist-vae-lossless"],
    # Format 6 (issue 16): records of inputs that are not like digits carry their score.
    "scored-shapes.vz": ["in/shapes.png"],
    "scored-pack.vz": ["in/mixed", "--pack"],
    # Format 7 (issue 18): near-lossless.
    "near-seven.vz": ["in/digits/d0.png", "--max-error", "4", "-m", "mnist-vae-lossless"],
    "near-pack.vz": ["in/digits", "--pack", "--max-error", "2", "-m", "mnist-vae-lossless"],
    # Issue 17: the pixel-group lossless model (the --lossless default since; the cases
    # above name the model they were made with).
    "groups-lossless-seven.vz": ["in/digits/d0.png", "--lossless", "-m",
                                 "mnist-vae-lossless-16g"],
    "groups-lossless-pack.vz": ["in/digits", "--pack", "--lossless", "-m",
                                "mnist-vae-lossless-16g"],
    "groups-near-pack.vz": ["in/digits", "--pack", "--max-error", "2", "-m",
                            "mnist-vae-lossless-16g"],
    # Format 8 (issue 18): single files name shipped models by a one-letter alias.
    "short-seven.vz": ["in/seven.png"],
    "short-on-paper.vz": ["in/two-on-paper.png"],
    "short-shapes.vz": ["in/shapes.png"],
    "short-lossless-seven.vz": ["in/digits/d0.png", "--lossless", "-m",
                                "mnist-vae-lossless-16g"],
    "short-near-seven.vz": ["in/digits/d0.png", "--max-error", "4", "-m",
                            "mnist-vae-lossless-16g"],
    # Format 9 (issue 18): the identity guard codes g092 and g126 near-lossless, in an
    # archive's frame that names its own model, and as a single near-lossless file.
    "guarded-pack.vz": ["in/guarded", "--pack"],
    "guarded-single.vz": ["in/guarded/g092.png"],
    # The same inputs since the guard's fallback is mnist-vae-lossless-lite (no new format:
    # the frame and the file name their model, the file by a new alias, T).
    "guarded-lite-pack.vz": ["in/guarded", "--pack"],
    "guarded-lite-single.vz": ["in/guarded/g092.png"],
    # Format 10 (issue 17): archives whose index writes d1.png after d0.png as "the next
    # name"; and the 5-logistic pixel-group model that became the --lossless default.
    "compact-pack.vz": ["in/digits", "--pack"],
    "compact-scored-pack.vz": ["in/mixed", "--pack"],
    "compact-guarded-pack.vz": ["in/guarded", "--pack"],
    "compact-lossless-pack.vz": ["in/digits", "--pack", "--lossless", "-m",
                                 "mnist-vae-lossless-16g-m5-60e"],
    "compact-near-pack.vz": ["in/digits", "--pack", "--max-error", "2", "-m",
                             "mnist-vae-lossless-16g-m5-60e"],
    "short-m5-lossless-seven.vz": ["in/digits/d0.png", "--lossless", "-m",
                                   "mnist-vae-lossless-16g-m5-60e"],
    # Issue 30: the local-head model, the --lossless default since (alias H).
    "local-lossless-pack.vz": ["in/digits", "--pack", "--lossless", "-m",
                               "mnist-vae-lossless-local"],
    "local-near-pack.vz": ["in/digits", "--pack", "--max-error", "2", "-m",
                           "mnist-vae-lossless-local"],
    "short-local-lossless-seven.vz": ["in/digits/d0.png", "--lossless", "-m",
                                      "mnist-vae-lossless-local"],
}
# Files today's encoder no longer writes (a newer format took their place): they must
# still decode, but re-encoding their inputs gives the newer format's bytes.
SUPERSEDED = {
    "lossless-seven.vz": "format 3 lossless (float probabilities); now format 4",
    "lossless-pack.vz": "format 3 lossless (float probabilities); now format 4",
    "lossless4-pack.vz": "a format 4 archive (one stream); archives are now format 5",
    "coded-pack.vz": "a format 3 archive (one stream); archives are now format 5",
    "coded-pack-q1.vz": "a format 3 archive (one stream); archives are now format 5",
    **{name: "a single file naming a shipped model in full; now format 8 (an alias)"
       for name in ("coded-seven.vz", "coded-on-paper.vz", "coded-alpha.vz",
                    "coded-q8-sixteen.vz", "scored-shapes.vz", "lossless4-seven.vz",
                    "near-seven.vz", "groups-lossless-seven.vz")},
    **{name: "the identity guard's fallback was mnist-vae-lossless-16g; now the lighter "
             "mnist-vae-lossless-lite (guarded-lite-*)"
       for name in ("guarded-pack.vz", "guarded-single.vz")},
    **{name: "a format 5 or 9 archive (every name in full in the index); archives are now "
             "format 10 (compact-*)"
       for name in ("framed-pack.vz", "framed-pack-q1.vz", "framed-lossless-pack.vz",
                    "scored-pack.vz", "near-pack.vz", "groups-lossless-pack.vz",
                    "groups-near-pack.vz", "guarded-lite-pack.vz")},
}


def make_inputs() -> None:
    from images import mnist_digit, sixteen_bit, transparent

    src = GOLDEN / "in"
    (src / "digits" / "sub").mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE.parent.parent / "examples" / "seven.png", src / "seven.png")
    shutil.copy(HERE.parent.parent / "examples" / "two-on-paper.png", src / "two-on-paper.png")
    transparent(2).save(src / "alpha.png")
    sixteen_bit(3).save(src / "sixteen.png")
    for i in range(6):
        Image.fromarray(mnist_digit(10 + i), "L").save(src / "digits" / f"d{i}.png")
    Image.fromarray(mnist_digit(20), "L").save(src / "digits" / "sub" / "deep.png")
    from nondigits import nondigits

    (src / "mixed").mkdir(exist_ok=True)
    nondigits("shapes", 1, seed=7)[0].save(src / "shapes.png")
    nondigits("text", 1, seed=7)[0].save(src / "mixed" / "text.png")
    nondigits("face", 1, seed=7)[0].save(src / "mixed" / "face.png")
    Image.fromarray(mnist_digit(30), "L").save(src / "mixed" / "digit.png")
    (src / "guarded").mkdir(exist_ok=True)
    for i in (88, 89, 90, 91, 92, 93, 126):
        Image.fromarray(mnist_digit(i), "L").save(src / "guarded" / f"g{i:03d}.png")
    assert np.asarray(Image.open(src / "digits" / "d0.png")).shape == (28, 28)


def main() -> None:
    from vaezip.cli import main as cli

    make_inputs()
    for name, args in CASES.items():
        out = GOLDEN / name
        if out.exists():  # golden files are never rewritten, only added
            continue
        try:
            cli(["encode", *[str(GOLDEN / a) if a.startswith("in/") else a for a in args],
                 "-o", str(out), "-q"])
        except SystemExit as exc:
            if exc.code:
                raise
        # What that vaezip decoded it to: a directory for an archive, else one PNG.
        decoded = GOLDEN / "out" / name.replace(".vz", "" if "pack" in name else ".png")
        decoded.parent.mkdir(exist_ok=True)
        try:
            cli(["decode", str(out), "-o", str(decoded), "--force", "-q"])
        except SystemExit as exc:
            if exc.code:
                raise


if __name__ == "__main__":
    main()
