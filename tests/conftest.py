"""Shared fixtures. Tests never touch the network or the user's real vaezip home."""

from __future__ import annotations

import json
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from vaezip.format import container as codec
from vaezip.frames.digit import Placement

REPO = Path(__file__).resolve().parent.parent
MINI = Path(__file__).resolve().parent / "data" / "mnist-mini.npz"
SHARED_DATA = REPO.parent / "shared" / "data"

# Property tests draw the same examples on every run and machine: a failure CI sees is one
# a developer can replay, and a run never fails by the luck of its draws.
settings.register_profile("vaezip", derandomize=True, print_blob=True)
settings.load_profile("vaezip")


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


def one_line_error(result, code: int = 1, *needles: str) -> str:
    """The CLI's error contract: exit code, one line on stderr starting 'vaezip: error: ',
    no traceback, and each needle in that line. Returns the line."""
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaezip: error: "), result.err
    assert "Traceback" not in result.err and "internal error" not in result.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def files(folder: Path) -> set[str]:
    """Every file under folder, as relative POSIX paths."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# Float-layout files built by hand, for the container's tests.
HASH = "0123456789abcdef" * 4


@dataclass
class FloatFile:
    """What a float-layout file holds, as the float codec hands it to the container."""

    model: str
    model_hash: str
    mu: np.ndarray
    sigma: np.ndarray
    images: list
    packed: bool


def make_vz(n=1, k=16, **placement) -> FloatFile:
    rng = np.random.default_rng(0)
    names = [f"d{i}.png" for i in range(n)]
    return FloatFile(
        model="mnist-vae-16d", model_hash=HASH,
        mu=rng.normal(size=(n, k)).astype(np.float32),
        sigma=rng.uniform(0.05, 1, size=(n, k)).astype(np.float32),
        images=[Placement(name=name, **placement) for name in names], packed=n > 1,
    )


def dumps(vz: FloatFile) -> bytes:
    return codec.dumps_float(vz.model, vz.model_hash, vz.mu, vz.sigma, vz.images, vz.packed)


def rewrite(data: bytes, edit) -> bytes:
    """Apply edit(header_dict) and re-serialise with a correct length prefix."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    edit(header)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


def format3_lossless_encode(model, pixels: np.ndarray) -> bytes:
    """The format-3 lossless encoder (float probabilities; vaezip writes format 4 and later
    since issue 14): uint8 [N, D] -> the stream codecs.bitsback.decode reads. Kept here to
    test that decoder; model: a NumpyModel with the logistic likelihood."""
    import constriction

    from vaezip.codecs import bitsback

    gaussian, prior, categorical = bitsback._models()
    seed = bitsback.seed_words()
    coder = constriction.stream.stack.AnsCoder(seed.copy())
    for start, stop in bitsback.chunks(len(pixels)):
        x = pixels[start:stop]
        mean, std = bitsback._posterior(model, x)
        z = coder.decode(gaussian, mean, std)  # bits back: [n * K]
        coder.encode_reverse(x.ravel().astype(np.int32), categorical,
                             bitsback._pmf(model, z, len(x)))
        coder.encode_reverse(z, prior)
    words = coder.get_compressed()
    kept = 0  # the seed words no pop reached are not stored; one byte says how many
    while kept < min(bitsback.SEED_WORDS, len(words)) and words[kept] == seed[kept]:
        kept += 1
    return bytes([kept]) + words[kept:].astype("<u4").tobytes()


def save_model(model, path: Path, name: str, force: bool = False, **kwargs) -> Path:
    """A torch model written as a registry model file (what training does at its end)."""
    from vaezip.fileio import atomic_write_bytes
    from vaezip.models.registry import serialize_model

    data, _ = serialize_model(model, name, **kwargs)
    return atomic_write_bytes(path, data, force=force, durable=True)


def config_mlps(config) -> list[tuple[str, list[int]]]:
    """(parameter prefix, sizes) of every MLP of a model config, as torch_nets names them."""
    heads = [(f"heads.{g}", config.head_sizes(g)) for g in range(config.head_count)]
    return [("encoder", config.encoder_sizes()), ("decoder", config.decoder_sizes()), *heads]


def make_icon(seed: int, size=(16, 12)):
    """A small RGBA icon: a coloured disc or square on transparency, some of it half
    transparent (tests/test_your_images.py and its golden files)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    a = np.zeros((h, w, 4), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    r, cx, cy = rng.integers(2, 5), rng.integers(4, w - 4), rng.integers(4, h - 4)
    shape = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) if seed % 2 else (
        (abs(yy - cy) <= r) & (abs(xx - cx) <= r))
    a[shape, :3] = rng.integers(0, 256, 3)
    a[shape, 3] = 255
    a[shape & (yy == cy), 3] = 128  # some partial transparency
    return Image.fromarray(a, "RGBA")
