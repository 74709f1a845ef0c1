"""What a training run is asked to do: TrainSettings, each default with its reason, and the
schedules that follow from them (learning rate, KL weight). No torch here: checkpoints and
the CLI read settings without starting torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vaezip.errors import Option, OptionError


@dataclass(frozen=True)
class TrainSettings:
    # Enough for the 2-D models to settle; the 16-D model's recipe asks for more.
    epochs: int = 20
    # 128 as in pytorch/examples: small enough for noisy, well-generalising steps,
    # large enough to keep a CPU's matrix kernels busy.
    batch_size: int = 128
    # Adam's usual 1e-3, decayed to 0 on a cosine over the run: the last epochs
    # polish instead of bouncing, worth a few nats of test ELBO at no cost.
    lr: float = 1e-3
    seed: int = 0
    dataset: str = "mnist"
    # Dynamic binarisation: every batch is a fresh Bernoulli draw of the gray pixels, the
    # standard protocol for likelihoods on binary MNIST (and a regulariser). Off: train
    # on the grayscale intensities, as pytorch/examples and the post do.
    binarize: bool = False
    # KL warm-up: the KL term's weight ramps from 0 to 1 over this many epochs, so the
    # encoder learns to use its latents before the prior pulls them in. 0: plain ELBO.
    kl_warmup_epochs: int = 0
    # beta-VAE weight on the KL term (Higgins et al. 2017). 1: the ELBO. Below 1 the
    # latents carry more of each image (sharper reconstructions, a higher rate): the
    # rate-distortion trade-off a compressor wants, one model per operating point.
    beta: float = 1.0
    # "auto": bfloat16 autocast on CUDA (float16 with loss scaling where bf16 is missing),
    # float32 elsewhere; CPUs and MPS gain little and risk more from reduced precision.
    precision: str = "auto"
    # Dropout on a pixel-group decoder's trunk and heads while training (models.GroupVAE);
    # 0: none. The heads overfit: 16 groups trained to 1.18 bits/dim, tested at 1.205.
    dropout: float = 0.0
    # Mirror images left-right at random, half of each batch: twice the images for a
    # small set whose pictures have no left or right (icons, sprites; not digits or text).
    mirror: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise OptionError(Option("epochs"), f" must be at least 1, not {self.epochs}")
        if self.batch_size < 1:
            raise OptionError(Option("batch_size"), f" must be at least 1, not {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise OptionError(Option("lr"), f" must be a positive number, not {self.lr}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise OptionError(Option("precision"), " must be auto, fp32, bf16 or fp16, not "
                              f"{self.precision}")
        if self.kl_warmup_epochs < 0:
            raise OptionError(Option("kl_warmup_epochs"), " must be at least 0, not "
                              f"{self.kl_warmup_epochs}")
        if not (self.beta > 0 and math.isfinite(self.beta)):
            raise OptionError(Option("beta"), f" must be a positive number, not {self.beta}")
        if not 0 <= self.dropout < 1:
            raise OptionError(Option("dropout"),
                              f" must be at least 0 and below 1, not {self.dropout}")

    def lr_at(self, epoch: int) -> float:
        """Cosine decay from lr (epoch 0) towards 0 (after the last epoch)."""
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))


def kl_weight(settings: TrainSettings, epochs_done: float) -> float:
    """The KL term's weight after epochs_done (fractional) epochs: settings.beta, ramped
    up from 0 over the KL warm-up."""
    if settings.kl_warmup_epochs <= 0:
        return settings.beta
    return settings.beta * min(1.0, epochs_done / settings.kl_warmup_epochs)
