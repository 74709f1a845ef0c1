"""The job of `vaezip train` and `make weights`: train, measure the weights as they are
stored (float16 for the shipped models), calibrate the detector, and register the model
file. Reports through callbacks; never prints.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from vaezip.codecs.entropy import estimate_sigma_units
from vaezip.fileio import atomic_write_bytes, check_writable
from vaezip.models.config import ModelConfig
from vaezip.models.detector import calibrate_stored
from vaezip.models.registry import read_entry, serialize_model
from vaezip.training.datasets import binarize, load_dataset, to_model_space
from vaezip.training.evaluate import evaluate
from vaezip.training.loop import TrainCallbacks, resolve_device, train
from vaezip.training.settings import TrainSettings


def train_and_register(
    name: str,
    config: ModelConfig,
    settings: TrainSettings,
    data_dir: Path,
    checkpoint: Path,
    out_path: Path,
    resume: bool = False,
    force: bool = False,
    device: str = "cpu",
    limit: int | None = None,
    store_dtype: str = "float32",
    callbacks: TrainCallbacks | None = None,
    download: bool = True,
    keep_checkpoint: bool = True,
) -> dict | None:
    """The whole job of `vaezip train` and `make weights`: load data, train, evaluate the
    stored form of the weights on the test set, write the model file. The last checkpoint
    stays (keep_checkpoint) so that a finished run can be trained further: resume with
    more epochs. `make weights` drops it, so that rerunning a recipe retrains it.

    Returns the model file's summary (name, path, metrics, training record); None in the
    processes of a torchrun job other than rank 0.
    """
    import platform

    import torch

    check_writable(out_path, force)
    train_set = load_dataset(settings.dataset, data_dir, train=True, download=download,
                             frame=config.frame)
    images = to_model_space(train_set.images[:limit] if limit else train_set.images)
    labels = train_set.labels[: len(images)]
    result = train(config, settings, images, checkpoint, resume, device, callbacks, labels)
    if not result.is_main:
        return None  # under torchrun, rank 0 alone evaluates and registers

    dtype = {"float32": torch.float32, "float16": torch.float16}[store_dtype]
    training = {
        **asdict(settings),
        "train_images": len(images),
        "seconds_per_epoch": round(result.seconds_per_epoch, 2),
        "final_train_loss": round(result.history[-1]["loss"], 3),
        "device": resolve_device(device),
        "processes": result.world_size,
        # Under torchrun every rank's final weights were hashed and compared (else: error).
        **({"ranks_identical": True} if result.world_size > 1 else {}),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "stored_as": store_dtype,
    }
    test_set = load_dataset(settings.dataset, data_dir, train=False, download=download,
                            frame=config.frame)
    metrics = {}  # stays empty for an image folder without a test split
    if test_set is not None:
        test_images = to_model_space(test_set.images).to(resolve_device(device))
        test_labels = test_set.labels.to(test_images.device) if config.conditional else None
        metrics = _test_metrics(result.model, name, config, dtype, test_images, test_labels,
                                training)
    codec = codec_statistics(result.model, images, labels) if config.arch != "ae" else {}
    data, _ = serialize_model(result.model, name, metrics=metrics, training=training,
                              dtype=dtype, codec=codec)
    # The "not a digit" warning, calibrated on the stored weights. Lossless coding never
    # warns, so the 256-level models go without.
    if config.arch == "vae" and config.likelihood != "logistic":
        detector = calibrate_stored(data, config, images.flatten(1).numpy(),
                                    labels.numpy() if config.conditional else None,
                                    classes=labels.numpy())
        if detector is not None:
            data, _ = serialize_model(result.model, name, metrics=metrics, training=training,
                                      dtype=dtype, codec=codec, nondigit=detector.to_json())
    atomic_write_bytes(out_path, data, force=force, durable=True)
    if not keep_checkpoint:
        checkpoint.unlink(missing_ok=True)
    return read_entry(out_path, kind="new").summary()


def codec_statistics(model, images, labels=None, batch_size: int = 4096) -> dict:
    """The entropy model of coded .vz files: each latent dim's typical posterior width
    (geometric mean of sigma) over the training images, as integers (entropy.py)."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    sigmas = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device).flatten(1)  # [B, D]
            y = None if labels is None or not model.config.conditional else (
                labels[start : start + batch_size].to(device))
            _, logvar = model.encode(x, y)  # [B, K]
            sigmas.append(torch.exp(0.5 * logvar).float().cpu().numpy())
    return {"sigma_units": estimate_sigma_units(np.concatenate(sigmas))}


def _test_metrics(model, name, config, dtype, test_images, test_labels, training: dict
                  ) -> dict:
    """Metrics of exactly what is stored (e.g. float16 weights); what float32 gave goes
    into the training record. Bernoulli models are also measured on binarised pixels."""
    import torch

    data, _ = serialize_model(model, name, dtype=dtype)
    stored = _model_from_bytes(data, config, test_images.device)
    metrics = evaluate(stored, test_images, labels=test_labels)
    if config.likelihood == "bernoulli":  # the binarised test set, seed 0
        binary = evaluate(stored, binarize(test_images, seed=0), labels=test_labels)
        metrics.update({f"binarized_{k}": binary[k] for k in ("neg_elbo", "recon", "kl",
                                                                "bits_per_dim")})
    if dtype != torch.float32:
        full = evaluate(model, test_images, labels=test_labels)
        key = "neg_elbo" if "neg_elbo" in full else "recon"
        training[f"float32_test_{key}"] = round(full[key], 4)
    return metrics


def _model_from_bytes(data: bytes, config: ModelConfig, device: str):
    from safetensors.torch import load

    from vaezip.models.torch_nets import build_model

    model = build_model(config)
    model.load_state_dict({k: v.float() for k, v in load(data).items()})
    return model.to(device).eval()
