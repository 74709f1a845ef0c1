"""vaezip cat (issue 28): shards packed apart and joined give what packing everything at
once gives; what cannot be joined correctly is refused, naming the file."""

import shutil
from pathlib import Path

import numpy as np
import pytest

import vaezip

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


def _members(path: Path) -> list[tuple[str, np.ndarray]]:
    with vaezip.open(path) as reader:
        return [(name, np.asarray(image)) for name, image in reader]


@pytest.fixture
def shards(tmp_path) -> Path:
    """Two folders: plain digits, and digits of which the guard codes two near-lossless."""
    shutil.copytree(GOLDEN / "in" / "digits", tmp_path / "digits")
    shutil.copytree(GOLDEN / "in" / "guarded", tmp_path / "guarded")
    return tmp_path


@pytest.mark.parametrize("mode", [[], ["--lossless"]])
def test_joined_shards_decode_as_packing_both_at_once(run_cli, shards, monkeypatch, mode):
    monkeypatch.chdir(shards)
    for folder in ("digits", "guarded"):
        assert run_cli("encode", folder, "--pack", *mode, "-o", f"{folder}.vz").code == 0
    r = run_cli("cat", "digits.vz", "guarded.vz", "-o", "joined.vz")
    assert r.code == 0 and "joined.vz: 14 images" in r.out, r
    assert run_cli("encode", "digits", "guarded", "--pack", *mode, "-o", "once.vz").code == 0
    joined, once = _members(shards / "joined.vz"), _members(shards / "once.vz")
    assert [n for n, _ in joined] == [n for n, _ in once]
    for (name, a), (_, b) in zip(joined, once, strict=True):
        assert np.array_equal(a, b), name
    assert run_cli("test", "joined.vz").code == 0
    if not mode:  # the guard's frame kept its place after the frame it refers to
        listing = run_cli("list", "joined.vz").out
        assert "2 guarded" in listing


def test_what_cannot_be_joined_is_refused(run_cli, shards, monkeypatch):
    monkeypatch.chdir(shards)
    run_cli("encode", "digits", "--pack", "-o", "a.vz")
    run_cli("encode", "guarded", "--pack", "--lossless", "-o", "exact.vz")
    r = run_cli("cat", "a.vz", "a.vz", "-o", "twice.vz")
    assert r.code == 2 and "member 'd0.png' is in a.vz too" in r.err, r
    r = run_cli("cat", "a.vz", "exact.vz", "-o", "mixed.vz")
    assert r.code == 2 and "cat joins archives of one model" in r.err, r
    r = run_cli("cat", "a.vz", "digits/d0.png", "-o", "odd.vz")
    assert r.code == 1 and "digits/d0.png: not a framed archive" in r.err, r
    assert not any(Path(n).exists() for n in ("twice.vz", "mixed.vz", "odd.vz"))
    damaged = bytearray(Path("a.vz").read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    Path("bad.vz").write_bytes(bytes(damaged))
    run_cli("encode", "guarded", "--pack", "-o", "b.vz")
    r = run_cli("cat", "bad.vz", "b.vz", "-o", "out.vz")
    assert r.code == 1 and "bad.vz: " in r.err and not Path("out.vz").exists(), r
    assert run_cli("cat", "a.vz", "b.vz", "-o", "out.vz").code == 0
    r = run_cli("cat", "a.vz", "b.vz", "-o", "out.vz")
    assert r.code == 1 and "--force" in r.err  # never overwritten silently
    assert len(r.err.strip().splitlines()) == 1
    assert run_cli("cat", "a.vz", "b.vz", "-o", "out.vz", "--force").code == 0
