"""The independent judge: a digit classifier that shares nothing with the identity guard
but the MNIST training set (issue 27).

The guard's reader (vaezip/codecs/guard.py, an MLP) and the benchmarks' first judge
(classifier.py, a CNN) are both trained by guard.fit_classifier: Adam at 1e-3, plain
cross-entropy, un-augmented digits. A judge trained the same way tends to fail on the
same digits as the reader, which then look guarded to it. This one differs in every
choice that is free:

- family: an all-convolution network with batch normalisation and global average
  pooling (no fully connected hidden layer);
- training: its own loop, SGD with Nesterov momentum and weight decay, a linear warm-up
  into a cosine, label smoothing, and digits shifted by up to 2 pixels each step;
- seed: its own.

It is trained once by the recipe below and stored in bench/judges/ (~70 KB of float16,
its recipe and test accuracy in the metadata), so every benchmark run reads the same
judge. Retrain: python bench/judge.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from classifier import DigitClassifier
from torch import nn

PATH = Path(__file__).resolve().parent / "judges" / "independent-cnn.safetensors"
RECIPE = {
    "epochs": 6,  # the test error stops falling after ~5 epochs at this size
    "batch_size": 256,
    "lr": 0.1,  # peak SGD step, reached after the first epoch's warm-up
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "label_smoothing": 0.1,
    "max_shift": 2,  # pixels, each direction: MNIST's digits sit within ~2 px of centre
    "seed": 2027,
}


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class IndependentJudge(DigitClassifier):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            *_block(1, 16), *_block(16, 16), nn.MaxPool2d(2),  # [B, 16, 14, 14]
            *_block(16, 32), *_block(32, 32), nn.MaxPool2d(2),  # [B, 32, 7, 7]
            *_block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # [B, 64]
            nn.Linear(64, 10),
        )


def _shifted(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each digit moved by its own random whole-pixel offset (zero-filled)."""
    padded = nn.functional.pad(x, (max_shift,) * 4)[:, 0]  # [B, 28 + 2s, 28 + 2s]
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, len(x)), generator=generator)
    rows = (torch.arange(28)[None, :] + dy[:, None])[:, :, None]  # [B, 28, 1]
    cols = (torch.arange(28)[None, :] + dx[:, None])[:, None, :]  # [B, 1, 28]
    return padded[torch.arange(len(x))[:, None, None], rows, cols].unsqueeze(1)


def train_judge(images: torch.Tensor, labels: torch.Tensor, recipe: dict = RECIPE,
                on_epoch=None) -> IndependentJudge:
    """images: float [N, 1, 28, 28] in [0, 1]; labels: int64 [N]."""
    torch.manual_seed(recipe["seed"])
    generator = torch.Generator().manual_seed(recipe["seed"])
    model = IndependentJudge()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe["lr"],
                                momentum=recipe["momentum"], nesterov=True,
                                weight_decay=recipe["weight_decay"])
    steps_per_epoch = math.ceil(len(images) / recipe["batch_size"])
    total = recipe["epochs"] * steps_per_epoch
    step = 0
    for epoch in range(recipe["epochs"]):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        for i in range(0, len(images), recipe["batch_size"]):
            warm = min(1.0, (step + 1) / steps_per_epoch)  # linear warm-up over epoch 1
            cosine = 0.5 * (1 + math.cos(math.pi * step / total))
            for group in optimizer.param_groups:
                group["lr"] = recipe["lr"] * warm * cosine
            idx = order[i : i + recipe["batch_size"]]
            x = _shifted(images[idx], recipe["max_shift"], generator)
            loss = nn.functional.cross_entropy(model(x), labels[idx],
                                               label_smoothing=recipe["label_smoothing"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
        if on_epoch:
            on_epoch(epoch + 1, loss.item())
    return model.eval()


def load_judge(path: Path = PATH) -> tuple[IndependentJudge, dict]:
    """The stored judge and its metadata (recipe, test accuracy)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise SystemExit(f"{path} is missing: run python bench/judge.py --data-dir DIR")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    model = IndependentJudge()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in load_file(str(path)).items()})
    return model.eval(), {"recipe": json.loads(meta["recipe"]),
                          "test_accuracy": float(meta["test_accuracy"])}


def main() -> None:
    from common import mnist_test_digits
    from safetensors.torch import save_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()

    def as_tensor(digits):
        return torch.from_numpy(digits.copy()).float().div(255).unsqueeze(1)

    def read_labels(name: str) -> torch.Tensor:
        raw = (args.data_dir / "MNIST" / "raw" / name).read_bytes()
        return torch.frombuffer(bytearray(raw[8:]), dtype=torch.uint8).long()

    train_x = as_tensor(mnist_test_digits(args.data_dir, train=True))
    train_y = read_labels("train-labels-idx1-ubyte")
    test_x = as_tensor(mnist_test_digits(args.data_dir))
    test_y = read_labels("t10k-labels-idx1-ubyte")
    start = time.perf_counter()
    model = train_judge(train_x, train_y, on_epoch=lambda e, loss: print(
        f"epoch {e}/{RECIPE['epochs']}: loss {loss:.4f}", flush=True))
    seconds = time.perf_counter() - start
    # Stored as float16, as the shipped weights are; judged as stored.
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    accuracy = (model.predict(test_x) == test_y).float().mean().item()
    PATH.parent.mkdir(exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(PATH), metadata={
        "recipe": json.dumps(RECIPE, sort_keys=True), "test_accuracy": f"{accuracy:.4f}",
        "train_seconds": f"{seconds:.0f}", "torch": torch.__version__})
    print(f"{PATH.name}: {accuracy:.2%} test accuracy, trained in {seconds:.0f} s")


if __name__ == "__main__":
    main()
