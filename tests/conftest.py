"""Shared fixtures. Tests never touch the network or the user's real vaezip home."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
MINI = Path(__file__).resolve().parent / "data" / "mnist-mini.npz"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def vaezip_home(tmp_path, monkeypatch) -> Path:
    """Every test gets an empty VAEZIP_HOME of its own."""
    home = tmp_path / "vaezip-home"
    monkeypatch.setenv("VAEZIP_HOME", str(home))
    monkeypatch.delenv("VAEZIP_DEBUG", raising=False)
    monkeypatch.delenv("VAEZIP_DATA", raising=False)
    return home


def _write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format torchvision reads: magic (0, 0, 0x08 = uint8, ndim), big-endian dims."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope="session")
def mini_mnist_dir(tmp_path_factory) -> Path:
    """A data dir in torchvision's MNIST layout holding 1,000 train / 500 test real digits."""
    root = tmp_path_factory.mktemp("mini-mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    with np.load(MINI) as mini:
        _write_idx(raw / "train-images-idx3-ubyte", mini["train_images"])
        _write_idx(raw / "train-labels-idx1-ubyte", mini["train_labels"])
        _write_idx(raw / "t10k-images-idx3-ubyte", mini["test_images"])
        _write_idx(raw / "t10k-labels-idx1-ubyte", mini["test_labels"])
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full MNIST (developers' and CI's machines); skip on a user's machine."""
    if not (SHARED_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip(f"full MNIST not found at {SHARED_DATA} (only on developer/CI machines)")
    return SHARED_DATA


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def run_cli(capsys):
    """Run `vaezip ARGS` in-process, through the real crash boundary; return code and output."""
    from vaezip.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def run_process():
    """`python -m vaezip ARGS` in a fresh interpreter (for import-time and traceback checks)."""
    import subprocess

    def run(*args: str, env: dict | None = None, cwd: Path | None = None):
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "vaezip", *map(str, args)],
            capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300,
        )

    return run
