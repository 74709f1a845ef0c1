"""Training checkpoints: safetensors too (model and Adam state as tensors; config, settings
and history as JSON metadata), so resuming never unpickles anything. Written atomically
and durably after every epoch.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from vaezip.errors import ModelFileError, UsageError
from vaezip.fileio import atomic_write_bytes
from vaezip.models.config import ModelConfig
from vaezip.training.settings import TrainSettings

CHECKPOINT_FORMAT = "vaezip-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


def save_checkpoint(path, model, optimizer, config, settings, epochs_done, history) -> None:
    import torch
    from safetensors.torch import save

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    for idx, slots in state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{idx}.{slot}"] = torch.as_tensor(value).detach().cpu().contiguous()
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "format_version": str(CHECKPOINT_FORMAT_VERSION),
        "config": config.to_json(),
        "settings": json.dumps(asdict(settings), sort_keys=True),
        "epochs_done": str(epochs_done),
        "history": json.dumps(history),
        "param_groups": json.dumps(state["param_groups"]),
    }
    atomic_write_bytes(Path(path), save(tensors, metadata=metadata), force=True, durable=True)


def read_checkpoint_meta(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    if not Path(path).is_file():
        raise ModelFileError(f"no checkpoint to resume at {path}; start afresh instead")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise ModelFileError(f"{path}: unreadable checkpoint ({exc})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path}: not a vaezip checkpoint")
    return meta


def checkpoint_settings(path: Path):
    """(ModelConfig, train.TrainSettings, epochs done) of a checkpoint, from its header."""
    meta = read_checkpoint_meta(path)
    try:
        config = ModelConfig.from_json(meta["config"], source=str(path))
        settings = TrainSettings(**json.loads(meta["settings"]))
        return config, settings, int(meta["epochs_done"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: bad checkpoint metadata ({exc})") from None


def load_checkpoint(path, model, optimizer, config, settings) -> tuple[int, list[dict]]:
    """Restore model and Adam state (torch moves the state to the parameters' device)."""
    from safetensors.torch import load_file

    meta = read_checkpoint_meta(path)
    saved_config, _, epochs_done = checkpoint_settings(path)
    if saved_config != config:
        raise UsageError(f"{path}: checkpoint was trained with a different model config")
    tensors = load_file(str(path))
    model.load_state_dict(
        {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    )
    param_groups = json.loads(meta["param_groups"])
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, slot = key.split(".", 2)
            state.setdefault(int(idx), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    return epochs_done, json.loads(meta["history"])
