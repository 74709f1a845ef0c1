"""Training beyond one process and beyond MNIST: torchrun, devices, precision, datasets."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MINI, _write_idx
from PIL import Image

from vaezip.errors import DataUnavailableError
from vaezip.models.config import ModelConfig
from vaezip.training.datasets import load_dataset, load_mnist, to_model_space
from vaezip.training.loop import train
from vaezip.training.settings import TrainSettings

TORCHRUN = Path(sys.executable).with_name("torchrun")
VAEZIP = Path(sys.executable).with_name("vaezip")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(home: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(TORCHRUN), "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "--no-python", str(VAEZIP), "train", *args,
           "--threads", "1", "--device", "cpu", "--no-download", "--quiet"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "VAEZIP_HOME": str(home), "OMP_NUM_THREADS": "1"})


def registered(home: Path) -> dict:
    out = subprocess.run([str(VAEZIP), "models", "--json"], capture_output=True, text=True,
                         env={**os.environ, "VAEZIP_HOME": str(home)}, check=True)
    return {m["name"]: m for m in json.loads(out.stdout) if m["kind"] == "user"}


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside python")
def test_torchrun_two_cpu_ranks_train_identically_and_register_once(tmp_path, mini_mnist_dir):
    r = torchrun(tmp_path, "--name", "ddp", "--epochs", "2", "--hidden", "32",
                 "--latent-dim", "3", "--data-dir", str(mini_mnist_dir))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("ddp: -ELBO") == 1  # rank 0 alone reports
    models = registered(tmp_path)
    assert list(models) == ["ddp"]  # registered once
    training = models["ddp"]["training"]
    assert training["processes"] == 2 and training["ranks_identical"] is True
    # The finished run's checkpoint stays, written once (by rank 0), and extends (issue 27)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["ddp.safetensors"]
    r = torchrun(tmp_path, "--name", "ddp", "--resume", "--epochs", "3", "--data-dir",
                 str(mini_mnist_dir))
    assert r.returncode == 0, r.stderr[-2000:]
    extended = registered(tmp_path)["ddp"]["training"]
    assert extended["epochs"] == 3 and extended["processes"] == 2


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside python")
def test_torchrun_resumes_an_interrupted_run(tmp_path, mini_mnist_dir):
    images = to_model_space(load_mnist(mini_mnist_dir, train=True, download=False).images)
    config = ModelConfig(latent_dim=3, hidden=(32,))
    train(config, TrainSettings(epochs=1), images, tmp_path / "checkpoints" / "half.safetensors")
    r = torchrun(tmp_path, "--name", "half", "--resume", "--epochs", "3", "--data-dir",
                 str(mini_mnist_dir))
    assert r.returncode == 0, r.stderr[-2000:]
    model = registered(tmp_path)["half"]
    assert model["training"]["epochs"] == 3 and model["training"]["processes"] == 2


def _write_set(raw: Path, prefix: str, suffix: str = "") -> None:
    raw.mkdir(parents=True)
    with np.load(MINI) as mini:
        for split, name in (("train", "train"), ("test", "t10k")):
            stem = f"{prefix}{split}" if prefix else name
            _write_idx(raw / f"{stem}-images-idx3-ubyte{suffix}", mini[f"{split}_images"])
            _write_idx(raw / f"{stem}-labels-idx1-ubyte{suffix}", mini[f"{split}_labels"])


def test_other_torchvision_sets_load_from_their_folders(tmp_path):
    _write_set(tmp_path / "FashionMNIST" / "raw", "")
    _write_set(tmp_path / "KMNIST" / "raw", "")
    _write_set(tmp_path / "EMNIST" / "raw", "emnist-digits-")
    with np.load(MINI) as mini:
        expected = torch.from_numpy(mini["test_images"])
    for name in ("fashion-mnist", "kmnist"):
        data = load_dataset(name, tmp_path, train=False, download=False)
        assert torch.equal(data.images, expected) and len(data) == 500
    emnist = load_dataset("emnist-digits", tmp_path, train=False, download=False)
    assert torch.equal(emnist.images, expected.transpose(1, 2))  # EMNIST is stored transposed
    with pytest.raises(DataUnavailableError, match="kmnist not found"):
        load_dataset("kmnist", tmp_path / "empty", train=True, download=False)


def test_training_on_a_folder_of_user_images(run_cli, tmp_path):
    with np.load(MINI) as mini:
        digits, labels = mini["test_images"][:120], mini["test_labels"][:120]
    for i, (digit, label) in enumerate(zip(digits, labels, strict=True)):
        split = "test" if i >= 100 else "train"
        folder = tmp_path / "imgs" / split / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        # As users have them: dark ink on light paper, bigger than 28x28.
        Image.fromarray(255 - digit).resize((56, 56)).save(folder / f"{i}.png")
    r = run_cli("train", "--name", "mine", "--dataset", "folder", "--data-dir",
                tmp_path / "imgs", "--epochs", "2", "--hidden", "32", "--latent-dim", "3",
                "--device", "cpu")
    assert r.code == 0, r
    assert "on 20 test images" in r.out
    models = json.loads(run_cli("models", "--json").out)
    mine = next(m for m in models if m["name"] == "mine")
    assert mine["training"]["dataset"] == "folder" and mine["training"]["train_images"] == 100
    # A folder model frames its images plainly, in the frame they have: 56x56 gray.
    assert (mine["frame"], mine["framing"]) == ("56x56 gray", "plain")
    assert "frame: 56x56 gray, the frame of 120 of the 120 images" in r.err
    data = load_dataset("folder", tmp_path / "imgs", train=True, frame=(1, 56, 56))
    assert sorted(set(data.labels.tolist())) == sorted(set(labels[:100].tolist()))
    # As they are: dark ink on light paper, not MNIST's white on black.
    assert data.images.shape == (100, 56 * 56) and data.images[:, 0].min() == 255


def test_device_and_precision_errors(run_cli, mini_mnist_dir):
    common = ["--name", "x", "--data-dir", mini_mnist_dir, "--no-download"]
    if not torch.cuda.is_available():
        r = run_cli("train", *common, "--device", "cuda")
        assert r.code == 2 and "no CUDA device" in r.err
        r = run_cli("train", *common, "--device", "cpu", "--precision", "bf16")
        assert r.code == 2 and "needs a CUDA device" in r.err
    r = run_cli("train", *common, "--precision", "fp8")
    assert r.code == 2 and "--precision" in r.err
    r = run_cli("train", *common, "--dataset", "cifar")
    assert r.code == 2 and "--dataset" in r.err
