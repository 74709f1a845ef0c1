"""Helpers shared by the benchmarks: timing whole processes, MNIST digits as PNG files."""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

VAEZIP = str(Path(sys.executable).with_name("vaezip"))


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """Run cmd to completion: (wall seconds, peak RSS in MB of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
    proc.stderr.close()
    return seconds, usage.ru_maxrss // 1024  # ru_maxrss is in KB on Linux


def median_time(cmd: list[str], runs: int, env: dict | None = None) -> tuple[float, list]:
    times = [run_measured(cmd, env)[0] for _ in range(runs)]
    return statistics.median(times), times


def mnist_test_digits(data_dir: Path, limit: int | None = None,
                      train: bool = False) -> np.ndarray:
    """uint8 [N, 28, 28], read straight from the IDX file (no torch needed); the test set,
    or the training set with train=True."""
    name = "train-images-idx3-ubyte" if train else "t10k-images-idx3-ubyte"
    raw = (Path(data_dir) / "MNIST" / "raw" / name).read_bytes()
    digits = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    return digits[:limit] if limit else digits


def encoded_size(image: Image.Image, **save) -> int:
    """Bytes of image saved with Pillow's options, in memory."""
    buffer = io.BytesIO()
    image.save(buffer, **save)
    return buffer.tell()


def mean_encoded_size(digits: np.ndarray, **save) -> float:
    """Mean bytes per digit, each saved as its own file."""
    return float(np.mean([encoded_size(Image.fromarray(d), **save) for d in digits]))


def write_pngs(digits: np.ndarray, folder: Path) -> list[Path]:
    """The digits as optimised PNG files 00000.png, 00001.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:05d}.png" for i in range(len(digits))]
    for path, digit in zip(paths, digits, strict=True):
        Image.fromarray(digit).save(path, optimize=True)
    return paths


def pillow_resave(src: Path, dst: Path) -> float:
    """Seconds for Pillow to re-save every PNG under src as optimised PNG, in this process."""
    dst.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for path in sorted(src.iterdir()):
        Image.open(path).save(dst / path.name, optimize=True)
    return time.perf_counter() - start


def vaezip_batch(codec, items: list) -> object:
    """A codec's batch of items (PNG bytes or uint8 arrays) named 00000.png, 00001.png...,
    read the way `vaezip encode` reads files (pipeline.read_batch)."""
    from vaezip.frames.sources import Source
    from vaezip.pipeline import read_batch

    names = [f"{i:05d}.png" for i in range(len(items))]
    return read_batch([Source(None, n, n, item) for n, item in zip(names, items, strict=True)],
                      codec).batch


def write_results(path: Path, lines: list[str], data: dict) -> None:
    """A benchmark's table (path.md, printed too) and its numbers (path.json)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".md").write_text("\n".join(lines))
    path.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    print("\n".join(lines))
