"""The shipped models' recipes, and `make weights`, which trains them into weights/.

Run: python -m vaezip.models.recipes [NAME ...] [--data-dir DIR]
     python -m vaezip.models.recipes --calibrate NAME ...   (the "not a digit" detector only)
Each recipe is the complete record of how its weights were made; the weights file
repeats it in its metadata (plus timings and test metrics). Retrain only when a
model changes: every retrain adds megabytes to the git history.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaezip.codecs.guard import GUARD_DIR, guard_bytes, train_guard
from vaezip.errors import VaezipError
from vaezip.fileio import atomic_write_bytes
from vaezip.models.config import ModelConfig
from vaezip.models.detector import calibrate_stored
from vaezip.models.runtime import load
from vaezip.training.datasets import load_dataset, load_mnist, to_model_space
from vaezip.training.loop import TrainCallbacks, set_threads
from vaezip.training.register import train_and_register
from vaezip.training.settings import TrainSettings

# The post's three models share one trunk so that only the objective differs.
# 512-256 hidden: the post's MLP scale; 2-D latents so the latent space can be drawn.
_POST_HIDDEN = (512, 256)
# 30 epochs: the 2-D models' test loss is flat (< 0.1 nats/epoch) well before that.
_POST_SETTINGS = TrainSettings(epochs=30, batch_size=128, lr=1e-3, seed=0)

RECIPES: dict[str, tuple[ModelConfig, TrainSettings]] = {
    "mnist-ae-2d": (ModelConfig(arch="ae", latent_dim=2, hidden=_POST_HIDDEN), _POST_SETTINGS),
    "mnist-vae-2d-mse": (
        ModelConfig(arch="vae", likelihood="gaussian", latent_dim=2, hidden=_POST_HIDDEN),
        _POST_SETTINGS,
    ),
    "mnist-vae-2d-bce": (
        ModelConfig(arch="vae", likelihood="bernoulli", latent_dim=2, hidden=_POST_HIDDEN),
        _POST_SETTINGS,
    ),
    # The default for `sample` and `plot` (the plain ELBO draws better digits than the
    # beta-VAE; it was the compression default before issue 5). 16 latent dims, two
    # 512-wide layers: 60 epochs with cosine decay reach ~97 nats test -ELBO in ~5 minutes.
    "mnist-vae-16d": (
        ModelConfig(arch="vae", likelihood="bernoulli", latent_dim=16, hidden=(512, 512)),
        TrainSettings(epochs=60, batch_size=128, lr=1e-3, seed=0),
    ),
    # For likelihoods on binary MNIST (issue 4's bar: test NLL <= 90 nats, IWAE k = 1000):
    # trained on dynamically binarised pixels, 32 latent dims (a binary digit carries more
    # than 16 dims' worth), KL warm-up over the first 10 epochs, 200 epochs with cosine decay.
    "mnist-vae-binary": (
        ModelConfig(arch="vae", likelihood="bernoulli", latent_dim=32, hidden=(512, 512)),
        TrainSettings(epochs=200, batch_size=128, lr=1e-3, seed=0, binarize=True,
                      kl_warmup_epochs=10),
    ),
    # The default for compression (coded .vz, issue 5): a beta-VAE. With the plain ELBO a
    # 16-d VAE's reconstructions lose the digit's identity on ~3% of test digits; weighting
    # the KL by 0.1 keeps more of each digit in 32 dims (~99% of decoded digits classified
    # as their originals) at a rate that still codes to ~12-19 bytes. Trained on all
    # 60,000 images, 60 epochs, cosine decay; the entropy model is measured at the end.
    "mnist-bvae-32d": (
        ModelConfig(arch="vae", likelihood="bernoulli", latent_dim=32, hidden=(512, 512)),
        TrainSettings(epochs=60, batch_size=128, lr=1e-3, seed=0, beta=0.1),
    ),
    # For lossless coding (issue 6): a mixture of 3 discretised logistics per pixel over the
    # 256 levels, so -ELBO is a code length for the exact 8-bit image; 32 latent dims, KL
    # warm-up over 5 epochs so the latents get used before the prior pulls them in.
    "mnist-vae-lossless": (
        ModelConfig(arch="vae", likelihood="logistic", latent_dim=32, hidden=(512, 512)),
        TrainSettings(epochs=50, batch_size=128, lr=1e-3, seed=0, kl_warmup_epochs=5),
    ),
    # Lossless with context (issue 17): the same encoder, latent and mixture, and a decoder
    # that predicts the pixels in 16 groups (4 x 4 blocks, coarse to fine), each seeing z
    # and the groups before it. bench/lossless_groups.py measured 1.215 bits/dim test
    # -ELBO after 30 epochs (the plain decoder: 1.282 after 50); 40 epochs at ~75 s each.
    "mnist-vae-lossless-16g": (
        ModelConfig(arch="vae", likelihood="logistic", latent_dim=32, hidden=(512, 512),
                    groups=16),
        TrainSettings(epochs=40, batch_size=128, lr=1e-3, seed=0, kl_warmup_epochs=5),
    ),
    # The identity guard's fallback (codecs/guard.py, issue 18): a light lossless model for
    # `--max-error 16`, where bins of 33 levels leave little for a wide network to add.
    # 128 wide and 8 latent dims: the exact coder runs its networks and the posterior's
    # bins several times faster than the 16g model's.
    "mnist-vae-lossless-lite": (
        ModelConfig(arch="vae", likelihood="logistic", latent_dim=8, hidden=(128, 128),
                    groups=16),
        TrainSettings(epochs=30, batch_size=128, lr=1e-3, seed=0, kl_warmup_epochs=5),
    ),
    # Tried for --lossless (issue 17), not shipped: the same with 5 logistics per pixel.
    # 1.2004 bits/dim test -ELBO after 40 epochs at ~73 s each (16g: 1.2051), but it
    # trained to 1.169: the heads overfit.
    "mnist-vae-lossless-16g-m5": (
        ModelConfig(arch="vae", likelihood="logistic", latent_dim=32, hidden=(512, 512),
                    groups=16, mixture=5),
        TrainSettings(epochs=40, batch_size=128, lr=1e-3, seed=0, kl_warmup_epochs=5),
    ),
    # The --lossless default since issue 17: m5 on 60 epochs instead of 40 (the 16g recipe
    # gained 0.01 bits/dim from 30 to 40). 1.1974 bits/dim test -ELBO after 60 epochs at
    # ~70 s each; packed, the 10,000 test digits code to 1.1992.
    "mnist-vae-lossless-16g-m5-60e": (
        ModelConfig(arch="vae", likelihood="logistic", latent_dim=32, hidden=(512, 512),
                    groups=16, mixture=5),
        TrainSettings(epochs=60, batch_size=128, lr=1e-3, seed=0, kl_warmup_epochs=5),
    ),
    # The --lossless default since issue 30: issue 29's local heads on MNIST. Each of the 16
    # groups' heads is one small MLP shared by every position of its group, seeing the
    # trunk's 8 features there and the pixels already decoded within 3 of it (7 x 7):
    # weights shared over positions learn from every pixel, so they do not overfit as the
    # dense heads did, in a tenth of the weights. 96 wide, not 128, and 8 latent dims (the
    # latent carries ~5 nats: the heads do the work), for the coder's speed; batches of 16
    # (many small steps). Test -ELBO 1.1202 bits/dim after 12 epochs at ~123 s each (25 min
    # here); packed, the 10,000 test digits code to 1.1236 (bench/lossless.py).
    "mnist-vae-lossless-local": (
        ModelConfig(arch="vae", likelihood="logistic", latent_dim=8, hidden=(96, 96),
                    groups=16, context=3),
        TrainSettings(epochs=12, batch_size=16, lr=1e-3, seed=0),
    ),
    # Tried against that overfitting, not shipped: dropout 0.1 on the decoder's hidden
    # units. Worse: 1.2231 bits/dim test -ELBO after 40 epochs (~74 s each); it trained to
    # 682 nats with dropout on, and 40 epochs were too few for the noisier network.
    "mnist-vae-lossless-16g-m5d": (
        ModelConfig(arch="vae", likelihood="logistic", latent_dim=32, hidden=(512, 512),
                    groups=16, mixture=5),
        TrainSettings(epochs=40, batch_size=128, lr=1e-3, seed=0, kl_warmup_epochs=5,
                      dropout=0.1),
    ),
    # The post's next step: a conditional VAE. The label carries the digit's identity and
    # the latent keeps the style. 8 dims, not 16: with 16, prior draws carried identity of
    # their own and overrode the label (`sample --digit` gave the asked digit on only
    # 92.3% of 9s, 93.0% of 5s; with 8, every digit is at or above 95%).
    "mnist-cvae-8d": (
        ModelConfig(arch="cvae", likelihood="bernoulli", latent_dim=8, hidden=(512, 512)),
        TrainSettings(epochs=40, batch_size=128, lr=1e-3, seed=0),
    ),
}


# Identity guards (codecs/guard.py) of the shipped lossy models: the quality whose decodings the
# reader learns from (the default), and its seed. Trained after the model, since a guard
# is bound to its model's weights hash.
GUARDS: dict[str, dict] = {"mnist-bvae-32d": {"quality": 2, "seed": 1}}


# Recipes kept as the record of what was tried and not shipped: trained only when named.
TRIED = ("mnist-vae-lossless-16g-m5", "mnist-vae-lossless-16g-m5d")


def shipped_recipes() -> list[str]:
    """What `make weights` retrains by default: every recipe whose weights ship."""
    return [name for name in RECIPES if name not in TRIED]


def weights_dir() -> Path:
    """The repo's top-level weights/ (make weights runs from a checkout)."""
    return Path(__file__).resolve().parents[2] / "weights"


def calibrate_shipped(path: Path, data_dir: Path) -> None:
    """Add the "not a digit" detector (models/detector.py) to a weights file trained before the
    detector existed, as training now does at its end: tensors and hash are unchanged, so
    no retrain (and no .vz file made with them) is affected."""
    from safetensors import safe_open
    from safetensors.numpy import load, save

    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
    config = ModelConfig.from_json(metadata["config"])
    data = path.read_bytes()
    settings = RECIPES[metadata["name"]][1]
    train_set = load_dataset(settings.dataset, data_dir, train=True, download=False,
                             frame=config.frame)
    pixels = to_model_space(train_set.images).flatten(1).numpy()
    labels = train_set.labels.numpy() if config.conditional else None
    detector = calibrate_stored(data, config, pixels, labels, classes=train_set.labels.numpy())
    if detector is None:
        sys.exit(f"{path.name}: too few training images to calibrate a detector")
    metadata["nondigit"] = detector.to_json()
    atomic_write_bytes(path, save(load(data), metadata=metadata), force=True, durable=True)
    print(f"{path.name}: nondigit threshold {detector.threshold:.2f}", file=sys.stderr)


def train_shipped_guard(name: str, data_dir: Path) -> Path:
    """Train the identity guard of a shipped lossy model (GUARDS) into weights/guards/."""
    import time

    recipe = GUARDS[name]
    start = time.perf_counter()
    train_set = load_mnist(data_dir, train=True, download=False)
    guard, metrics = train_guard(
        load(name), recipe["quality"], train_set.images, train_set.labels, seed=recipe["seed"],
        on_epoch=lambda e, loss: print(f"{name} guard: epoch {e} loss {loss:.3f}",
                                       file=sys.stderr, flush=True))
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    path = weights_dir() / GUARD_DIR / f"{name}.safetensors"
    path.parent.mkdir(exist_ok=True)
    atomic_write_bytes(path, guard_bytes(guard, recipe, metrics), force=True, durable=True)
    print(f"{name} guard: threshold {guard.threshold:.4f} {metrics}", file=sys.stderr)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vaezip.models.recipes", description=__doc__)
    parser.add_argument("names", nargs="*",
                        help="recipes to (re)train [default: every shipped one]")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--calibrate", action="store_true",
                        help="measure the 'not a digit' detector of shipped weights and "
                             "store it in their metadata; the weights stay as they are")
    parser.add_argument("--guards", action="store_true",
                        help="train the identity guards of the named models (default: every "
                             "shipped one) against the weights already there")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; recipes: {', '.join(RECIPES)}")
    set_threads(args.threads)
    out_dir = weights_dir()
    if args.calibrate:
        for name in args.names:
            calibrate_shipped(out_dir / f"{name}.safetensors", args.data_dir)
        return
    if args.guards:
        for name in args.names or list(GUARDS):
            train_shipped_guard(name, args.data_dir)
        return
    for name in args.names or shipped_recipes():
        config, settings = RECIPES[name]
        # An interrupted `make weights` picks up from its last finished epoch.
        checkpoint = out_dir.parent / "build" / f"{name}.ckpt.safetensors"

        def on_epoch(r, name=name):
            print(f"{name}: epoch {r.epoch}/{r.epochs} loss {r.loss:.3f} (recon {r.recon:.3f}, "
                  f"KL {r.kl:.3f}) {r.seconds:.1f}s", file=sys.stderr, flush=True)

        try:
            summary = train_and_register(
                name, config, settings, args.data_dir, checkpoint,
                out_dir / f"{name}.safetensors", resume=checkpoint.exists(), force=True,
                device="cpu", limit=None, store_dtype="float16",
                callbacks=TrainCallbacks(on_epoch=on_epoch), download=False,
                keep_checkpoint=False)
        except VaezipError as exc:
            sys.exit(f"make weights: {name}: {exc}")
        m, t = summary["metrics"], summary["training"]
        print(f"{name}: {m} | {t['seconds_per_epoch']} s/epoch", file=sys.stderr)
        if name in GUARDS:  # bound to the weights just made
            train_shipped_guard(name, args.data_dir)


if __name__ == "__main__":
    main()
