"""The model configuration: everything needed to rebuild a model from its weights file.

Kept free of torch so that the registry can list models by reading file headers alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from vaezip.errors import ModelFileError

ARCHS = ("ae", "vae", "cvae")
LIKELIHOODS = ("bernoulli", "gaussian", "logistic")
LEVELS = 256  # 8-bit pixels: the discrete likelihood's alphabet
IMAGE_SIDE = 28  # MNIST's side; every model works in this 28x28 "model space"


# Fields added after the first release, with their defaults (see ModelConfig.to_json).
_LATER_FIELDS = {"classes": 0, "mixture": 0, "groups": 0}
GROUP_COUNTS = (0, 4, 16, 64)  # pixel groups of a context decoder: 0 (none), or s x s blocks


@dataclass(frozen=True)
class ModelConfig:
    # "ae": the post's plain autoencoder (sigmoid latent, squared-error loss);
    # "vae": encoder -> (mu, log sigma^2), reparameterised sample, KL to N(0, I).
    arch: str = "vae"
    # Decoder likelihood of a VAE. "bernoulli" (binary cross-entropy) gives the sharpest
    # digits on MNIST; "gaussian" is fixed unit variance, i.e. 1/2 * squared error;
    # "logistic" is a mixture of discretised logistics over the 256 pixel levels (Salimans
    # et al. 2017), a true probability for 8-bit images: what lossless coding needs.
    # The autoencoder has no likelihood and stores "none".
    likelihood: str = "bernoulli"
    # 16 dims: enough to keep a digit's identity and style, few enough that the code
    # of one digit is a handful of bytes. The post's models use 2 so they can be drawn.
    latent_dim: int = 16
    # Hidden widths of the MLP encoder, input side first; the decoder mirrors them.
    # Two layers of 512 train in seconds per epoch on a laptop CPU.
    hidden: tuple[int, ...] = (512, 512)
    # Pixels per side of model space (MNIST).
    image_side: int = IMAGE_SIDE
    # "cvae": encoder and decoder both see the one-hot label; 10 digits. 0 otherwise.
    classes: int = 0
    # Components of the "logistic" likelihood per pixel (0 for the others). 3 lets a pixel
    # be background (0), ink (255) or in between: edge pixels are often bimodal.
    mixture: int = 0
    # Pixel groups of a context decoder (logistic likelihood only; 0: none). The image is
    # cut into s x s blocks (groups = s^2) and group g holds one position of every block;
    # the decoder predicts group g from z and the groups before it (pixel_groups), so a
    # pixel sees its decoded neighbours at the price of `groups` network passes, not 784.
    # 16 took the lossless rate from 1.518 to 1.279 bits/dim after 8 epochs (issue 17).
    groups: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        if self.arch == "cvae" and self.classes == 0:
            object.__setattr__(self, "classes", 10)  # MNIST's digits
        if self.arch != "cvae" and self.classes:
            raise ValueError(f"classes is for arch cvae, not {self.arch}")
        if self.arch == "ae":
            object.__setattr__(self, "likelihood", "none")
        elif self.likelihood not in LIKELIHOODS:
            raise ValueError(
                f"likelihood must be one of {', '.join(LIKELIHOODS)}, not {self.likelihood!r}"
            )
        if self.likelihood == "logistic" and self.mixture == 0:
            object.__setattr__(self, "mixture", 3)
        if self.likelihood != "logistic" and self.mixture:
            raise ValueError("mixture is for the logistic likelihood")
        if not 0 <= self.mixture <= 16:
            raise ValueError(f"mixture must be between 1 and 16, not {self.mixture}")
        if not 1 <= self.latent_dim <= 1024:
            raise ValueError(f"latent_dim must be between 1 and 1024, not {self.latent_dim}")
        if self.groups not in GROUP_COUNTS:
            raise ValueError(f"groups must be one of {GROUP_COUNTS}, not {self.groups}")
        if self.groups and (self.likelihood != "logistic" or self.conditional):
            raise ValueError("pixel groups are for the logistic likelihood of arch vae")
        hidden = tuple(int(h) for h in self.hidden)
        if not hidden or any(not 1 <= h <= 8192 for h in hidden):
            raise ValueError(f"hidden widths must be between 1 and 8192, not {self.hidden}")
        object.__setattr__(self, "hidden", hidden)

    @property
    def input_dim(self) -> int:
        return self.image_side * self.image_side

    # The architecture, as data: every backend (torch in torch_nets.py, NumPy in
    # numpy_nets.py) builds its MLPs from these sizes, so there is one definition of each model.
    @property
    def conditional(self) -> bool:
        return self.classes > 0

    def encoder_sizes(self) -> list[int]:
        """Input side first. The VAE's last layer emits mu and log sigma^2 side by side;
        a CVAE's input is the image and the one-hot label, concatenated."""
        out = self.latent_dim if self.arch == "ae" else 2 * self.latent_dim
        return [self.input_dim + self.classes, *self.hidden, out]

    def decoder_sizes(self) -> list[int]:
        """The logistic decoder emits, per pixel and component, a mixture logit, a mean
        and a log scale: [3, mixture, D] flattened. With pixel groups it is the trunk
        z -> features (ReLU after its last layer too) that every group's head sees."""
        if self.groups:
            return [self.latent_dim, *reversed(self.hidden)]
        out = self.input_dim * (3 * self.mixture if self.likelihood == "logistic" else 1)
        return [self.latent_dim + self.classes, *reversed(self.hidden), out]

    def pixel_groups(self) -> list[list[int]]:
        """The pixel indices of each group, in coding order (one group of all pixels when
        groups is 0). Blocks of s x s, s = sqrt(groups); the positions within a block go
        coarse to fine (block_positions), so early groups form a sparse grid that later
        ones fill in."""
        block = max(1, math.isqrt(self.groups))
        side = self.image_side
        return [[r * side + c for r in range(i, side, block) for c in range(j, side, block)]
                for i, j in block_positions(block)]

    def head_sizes(self, group: int) -> list[int]:
        """Group g's head: the trunk's features and the pixels of groups 0 .. g-1 (as
        2 v / 255 - 1) in, the [3, mixture, group size] logistic parameters out."""
        sizes = [len(g) for g in self.pixel_groups()]
        width = self.hidden[0]
        return [width + sum(sizes[:group]), width, 3 * self.mixture * sizes[group]]

    def to_json(self) -> str:
        """Canonical JSON (it is hashed with the weights). Fields added after the first
        release are left out at their default, so older model files keep their hash."""
        fields_ = {k: v for k, v in asdict(self).items()
                   if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}
        return json.dumps(fields_, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str = "model file") -> ModelConfig:
        try:
            raw = json.loads(text)
            known = {f.name for f in fields(cls)}
            unknown = set(raw) - known
            if unknown:
                raise ValueError(f"unknown config fields {sorted(unknown)}")
            raw["hidden"] = tuple(raw.get("hidden", ()))
            return cls(**raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelFileError(f"{source}: invalid model config ({exc})") from None


def block_positions(block: int) -> list[tuple[int, int]]:
    """The (row, column) positions of a block x block tile (block a power of two), coarse
    to fine: the positions of the half-size tile's order scaled by 2, then their diagonal,
    right and lower neighbours (for 2 x 2: a checkerboard first)."""
    if block == 1:
        return [(0, 0)]
    coarse = block_positions(block // 2)
    return [(2 * a + di, 2 * b + dj) for di, dj in ((0, 0), (1, 1), (0, 1), (1, 0))
            for a, b in coarse]


def mlp_parameter_names(prefix: str, sizes: list[int]) -> list[tuple[str, str]]:
    """(weight, bias) names of each Linear layer of an MLP that models.mlp builds: its
    layers alternate [Linear, ReLU, Linear, ...], so Linear i sits at index 2 * i."""
    return [(f"{prefix}.{2 * i}.weight", f"{prefix}.{2 * i}.bias") for i in range(len(sizes) - 1)]
