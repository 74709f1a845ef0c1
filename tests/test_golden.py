"""Golden files (tests/data/golden, made by make_golden.py): today's encoder must write the
same bytes (except for files a newer format superseded), and every file must decode to
what the vaezip that made it decoded it to. A failure here is a format change: bump the
version instead. test_exact.py decodes the format-4 ones on other CPU kernels."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"

import sys  # noqa: E402

sys.path.insert(0, str(GOLDEN.parent))
from make_golden import CASES, SUPERSEDED  # noqa: E402


def _args(args: list[str]) -> list[str]:
    return [str(GOLDEN / a) if a.startswith("in/") else a for a in args]


@pytest.mark.parametrize("name", sorted(set(CASES) - set(SUPERSEDED)))
def test_encoding_gives_the_golden_bytes(name, run_cli, tmp_path):
    out = tmp_path / name
    r = run_cli("encode", *_args(CASES[name]), "-o", out, "-q")
    assert r.code == 0, r
    assert out.read_bytes() == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_files_decode_as_they_did(name, run_cli, tmp_path):
    out = tmp_path / "out"
    expected = GOLDEN / "out" / name.replace(".vz", "" if "pack" in name else ".png")
    r = run_cli("decode", GOLDEN / name, "-o", out if "pack" in name else out.with_suffix(".png"),
                "-q")
    assert r.code == 0, r
    pairs = ([(out.with_suffix(".png"), expected)] if "pack" not in name else
             [(out / p.relative_to(expected), p) for p in sorted(expected.rglob("*.png"))])
    assert len(pairs) >= 1
    for got, want in pairs:
        a, b = Image.open(got), Image.open(want)
        assert (a.mode, a.size) == (b.mode, b.size), got
        diff = np.abs(np.asarray(a, np.int32) - np.asarray(b, np.int32))
        # (Near-)lossless: exact. Latent modes: float32 BLAS may round a level either way.
        exact = name.startswith(("lossless", "near", "framed-lossless", "groups"))
        assert diff.max() <= (0 if exact else 1), (got, diff.max())
