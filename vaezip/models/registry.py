"""The model registry: stable names -> (config, weights, hash).

Two places hold models:
- shipped: `weights/NAME.safetensors`, at the top of a source checkout or inside the
  installed package (`vaezip/weights/`, where the wheel puts them);
- user: `$VAEZIP_HOME/models/NAME.safetensors` (default `$XDG_DATA_HOME/vaezip`, i.e.
  `~/.local/share/vaezip`), where `vaezip train` registers what it trains.

A weights file is safetensors (never pickle) and describes itself in its metadata:
format and version, name, the config that rebuilds the model, a SHA-256 of the tensors
and config (checked on every load), the parameter count, and test metrics.
Listing reads headers only and never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from vaezip.codecs.entropy import SIGMA_UNITS
from vaezip.errors import ModelFileError, UnknownModelError
from vaezip.format.names import MAX_MODEL_NAME, is_model_name
from vaezip.models.config import ModelConfig
from vaezip.models.detector import Detector
from vaezip.models.numpy_nets import NumpyModel

MODEL_FORMAT = "vaezip-model"
MODEL_FORMAT_VERSION = 1
DEFAULT_MODEL = "mnist-bvae-32d"  # coded .vz: ~99% of digits keep their identity
# sample and plot: a beta < 1 model's prior draws are poor (its posteriors do not fill
# the prior), so generation keeps the plain-ELBO model.
GENERATIVE_MODEL = "mnist-vae-16d"
# --lossless: 16 pixel groups whose local heads see the pixels around each one (issue 30)
LOSSLESS_MODEL = "mnist-vae-lossless-local"
# --max-error: 256 levels, pixel groups, 5 logistics a pixel (issue 17); the --lossless
# default before issue 30, kept for near-lossless, whose rates it was measured at
NEAR_LOSSLESS_MODEL = "mnist-vae-lossless-16g-m5-60e"
SUFFIX = ".safetensors"


def user_home() -> Path:
    if os.environ.get("VAEZIP_HOME"):
        return Path(os.environ["VAEZIP_HOME"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "vaezip"


def user_models_dir() -> Path:
    return user_home() / "models"


def shipped_dirs() -> list[Path]:
    """Where shipped weights live: inside the package (wheel), or at the repo top (checkout)."""
    package = Path(__file__).resolve().parent.parent  # vaezip/
    return [d for d in (package / "weights", package.parent / "weights") if d.is_dir()]


def validate_name(name: str) -> str:
    if not is_model_name(name):
        raise UnknownModelError(
            f"invalid model name {name!r}: use lower-case letters, digits and single "
            f"'-', '_' or '.' between them (at most {MAX_MODEL_NAME} characters)"
        )
    return name


def tensor_digest(arrays: dict, config: ModelConfig) -> str:
    """SHA-256 over the config and every tensor's name, dtype, shape and bytes (numpy arrays)."""
    h = hashlib.sha256()
    h.update(config.to_json().encode())
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"\0{name}\0{a.dtype.str}\0{list(a.shape)}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class ModelEntry:
    name: str
    kind: str  # "shipped" or "user"
    path: Path
    config: ModelConfig
    sha256: str
    num_params: int
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    # The entropy model for coded .vz files (entropy.py): {"sigma_units": [K ints]}, each
    # latent dim's typical posterior width over the training set. Empty: float .vz only.
    codec: dict = field(default_factory=dict)
    # The "not a digit" detector (models/detector.py), calibrated on the training set; None:
    # encoding with this model gives no such warning.
    nondigit: object = None

    @property
    def nondigit_threshold(self) -> float | None:
        """The squared Mahalanobis distance above which an input warns."""
        return None if self.nondigit is None else self.nondigit.threshold

    def summary(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "arch": self.config.arch,
            "likelihood": self.config.likelihood,
            "latent_dim": self.config.latent_dim,
            "hidden": list(self.config.hidden),
            "mixture": self.config.mixture,
            "groups": self.config.groups,
            "frame": self.config.frame_text,
            "framing": self.config.framing,
            "num_params": self.num_params,
            "sha256": self.sha256,
            "metrics": self.metrics,
            "training": self.training,
            "codec": self.codec,
            "nondigit_threshold": self.nondigit_threshold,
            "path": str(self.path),
        }


def _read_header(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise ModelFileError(f"{path}: not a readable safetensors weights file ({exc})") from None


def read_entry(path: Path, kind: str) -> ModelEntry:
    meta = _read_header(path)
    if meta.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not a vaezip model file (format {meta.get('format')!r})")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise ModelFileError(f"{path}: missing or bad format_version") from None
    if version > MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version} is newer than this vaezip reads "
            f"({MODEL_FORMAT_VERSION}); upgrade vaezip"
        )
    try:
        return ModelEntry(
            name=meta["name"],
            kind=kind,
            path=path,
            config=ModelConfig.from_json(meta["config"], source=str(path)),
            sha256=meta["sha256"],
            num_params=int(meta["num_params"]),
            metrics=json.loads(meta.get("metrics", "{}")),
            training=json.loads(meta.get("training", "{}")),
            codec=_codec_meta(meta.get("codec", "{}"), path),
            nondigit=_nondigit_meta(meta.get("nondigit"), path),
        )
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"{path}: missing or bad metadata ({exc})") from None


def _codec_meta(text: str, path: Path) -> dict:
    """The entropy model's parameters, checked: integers, so both sides of a coded file
    build the same grid on any machine."""
    codec = json.loads(text)
    units = codec.get("sigma_units") if isinstance(codec, dict) else None
    if codec and not (isinstance(units, list) and units and all(
            isinstance(u, int) and not isinstance(u, bool) and 1 <= u <= SIGMA_UNITS
            for u in units)):
        raise ModelFileError(f"{path}: bad codec metadata (sigma_units)")
    return codec


def _nondigit_meta(text: str | None, path: Path):
    if text is None:
        return None
    try:
        return Detector.from_json(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"{path}: bad nondigit metadata ({exc})") from None


def _candidates() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for kind, folder in [("shipped", d) for d in shipped_dirs()] + [("user", user_models_dir())]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if is_model_name(name) and name not in seen:
                seen.add(name)  # shipped first: a shipped name cannot be shadowed
                found.append((kind, path))
    return found


def list_models() -> list[ModelEntry]:
    """Every model, shipped first; unreadable user files are skipped, shipped ones raise."""
    entries = []
    for kind, path in _candidates():
        try:
            entries.append(read_entry(path, kind))
        except ModelFileError:
            if kind == "shipped":
                raise
    return entries


def known_names() -> list[str]:
    return [path.name[: -len(SUFFIX)] for _, path in _candidates()]


def find(name: str) -> ModelEntry:
    validate_name(name)
    for kind, path in _candidates():
        if path.name == name + SUFFIX:
            entry = read_entry(path, kind)
            if entry.name != name:
                raise ModelFileError(f"{path}: file is named {name!r} but holds {entry.name!r}")
            return entry
    known = ", ".join(known_names()) or "none"
    raise UnknownModelError(f"unknown model {name!r}; known models: {known}")


def is_shipped(name: str) -> bool:
    return any(path.name == name + SUFFIX and kind == "shipped" for kind, path in _candidates())


def verified_tensors(entry: ModelEntry) -> dict:
    """The weights of entry as NumPy arrays, after checking them against their hash."""
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(entry.path))
    except Exception as exc:
        raise ModelFileError(f"{entry.path}: cannot read weights ({exc})") from None
    if tensor_digest(tensors, entry.config) != entry.sha256:
        raise ModelFileError(
            f"{entry.path}: weights do not match their recorded hash (file corrupted or "
            f"edited); reinstall or retrain {entry.name!r}"
        )
    return tensors


def _entry(name_or_entry: str | ModelEntry) -> ModelEntry:
    return find(name_or_entry) if isinstance(name_or_entry, str) else name_or_entry


def load_model(name_or_entry: str | ModelEntry, device: str = "cpu"):
    """Rebuild a torch model from its file alone, verify its hash, return (model, entry).

    The model comes back in eval mode, in float32, on device. For training and evaluation;
    encode/decode use load_inference, which does not need torch.
    """
    import torch

    from vaezip.models.torch_nets import build_model

    entry = _entry(name_or_entry)
    tensors = verified_tensors(entry)
    model = build_model(entry.config)
    try:
        model.load_state_dict({k: torch.from_numpy(v).float() for k, v in tensors.items()})
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{entry.path}: weights do not fit the config ({first})") from None
    return model.to(device).eval(), entry


def load_inference(name_or_entry: str | ModelEntry):
    """The model as a NumPy encoder/decoder (inference.NumpyModel), hash-checked: (model,
    entry). Imports no torch."""
    entry = _entry(name_or_entry)
    return numpy_model(entry, verified_tensors(entry)), entry


def numpy_model(entry: ModelEntry, tensors: dict):
    """inference.NumpyModel of entry's verified tensors."""
    try:
        return NumpyModel(entry.config, tensors)
    except KeyError as exc:
        raise ModelFileError(f"{entry.path}: weights lack {exc} for its config") from None


def serialize_model(
    model, name: str, metrics: dict | None = None, training: dict | None = None, dtype=None,
    codec: dict | None = None, nondigit: str | None = None,
) -> tuple[bytes, str]:
    """The bytes of a weights file for model (tensors cast to dtype), and its hash."""
    import torch
    from safetensors.torch import save

    validate_name(name)
    dtype = dtype or torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    digest = tensor_digest({k: v.numpy() for k, v in tensors.items()}, model.config)
    metadata = {
        "format": MODEL_FORMAT,
        "format_version": str(MODEL_FORMAT_VERSION),
        "name": name,
        "config": model.config.to_json(),
        "sha256": digest,
        "num_params": str(sum(v.numel() for v in tensors.values())),
        "metrics": json.dumps(metrics or {}, sort_keys=True),
        "training": json.dumps(training or {}, sort_keys=True),
    }
    if codec:
        metadata["codec"] = json.dumps(codec, sort_keys=True)
    if nondigit:
        metadata["nondigit"] = nondigit
    return save(tensors, metadata=metadata), digest
