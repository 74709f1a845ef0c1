"""A digit classifier for judging decoded and generated digits, trained by the benchmarks
themselves on the MNIST training set: a small CNN (two 5x5 conv layers, ~99% test
accuracy after 3 epochs, about a minute on 2 CPU cores)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vaezip.codecs.guard import fit_classifier


class DigitClassifier(nn.Module):
    """A judge of digits: self.net maps [B, 1, 28, 28] in [0, 1] to logits [B, 10]."""

    net: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 784] or [B, 1, 28, 28] in [0, 1] -> logits [B, 10]."""
        return self.net(x.reshape(-1, 1, 28, 28))

    @torch.inference_mode()
    def predict(self, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
        self.eval()
        return torch.cat([self(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


class DigitCNN(DigitClassifier):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # [B, 32, 14, 14]
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # [B, 64, 7, 7]
            nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, 10),
        )


def train_classifier(data_dir, epochs: int = 3, seed: int = 0) -> tuple[DigitCNN, float]:
    """(classifier, accuracy on the 10,000 test digits)."""
    from vaezip.training.datasets import load_mnist, to_model_space

    train = load_mnist(data_dir, train=True, download=False)
    test = load_mnist(data_dir, train=False, download=False)
    x, y = to_model_space(train.images), train.labels
    torch.manual_seed(seed)
    model = fit_classifier(DigitCNN(), x, y, epochs, batch_size=128, seed=seed)
    accuracy = (model.predict(to_model_space(test.images)) == test.labels).float().mean().item()
    return model, accuracy


CACHE = Path(__file__).resolve().parent / ".cache" / "digit-cnn.safetensors"


def cached_classifier(data_dir, epochs: int = 3, seed: int = 0) -> tuple[DigitCNN, float]:
    """train_classifier, kept in bench/.cache between benchmark runs (same data, epochs
    and seed give the same network, so a rerun need not spend a minute retraining)."""
    from safetensors.torch import load_file, save_file

    key = f"epochs={epochs},seed={seed}"
    if CACHE.exists():
        from safetensors import safe_open

        with safe_open(str(CACHE), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("key") == key:
            model = DigitCNN()
            model.load_state_dict(load_file(str(CACHE)))
            return model, float(meta["accuracy"])
    model, accuracy = train_classifier(data_dir, epochs, seed)
    CACHE.parent.mkdir(exist_ok=True)
    save_file(model.state_dict(), str(CACHE), metadata={"key": key, "accuracy": str(accuracy)})
    return model, accuracy
