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
IMAGE_SIDE = 28  # MNIST's side: the digit models' frame is 1 x 28 x 28
FRAME_SIDES = range(8, 129)  # a frame's height and width, in pixels
CHANNEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # a frame's channels, as Pillow's mode
FRAMINGS = ("digit", "plain")  # how images come into the frame: vaezip/frames/


# Fields added after the first release, with their defaults (see ModelConfig.to_json).
_LATER_FIELDS = {"classes": 0, "mixture": 0, "groups": 0, "channels": 1, "frame_width": 0,
                 "framing": "digit", "context": 0, "map_features": 0}
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
    # The frame's height in pixels (MNIST's 28 for the digit models).
    image_side: int = IMAGE_SIDE
    # The frame's width; 0: square (image_side). Kept apart from image_side so that the
    # shipped models' configs, and so their hashes, stay as they were.
    frame_width: int = 0
    # The frame's channels: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA (CHANNEL_MODES).
    channels: int = 1
    # "digit": MNIST's crop, 20x20 fit and centre of mass (frames/digit.py), for models
    # of handwriting; "plain": images as they are, or resized into the frame with their
    # aspect kept (frames/plain.py), for everything else. A user's model is "plain".
    framing: str = "digit"
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
    # Local heads (with groups; 0: none, each head sees the whole of every earlier group).
    # A radius r: each pixel's parameters come from one small network per group, shared by
    # every position, that sees the (2r + 1)^2 window of pixels around it already decoded
    # and map_features features of the trunk at its position. Weights shared over positions
    # learn from every pixel of every image: what a small set (a thousand icons) needs to
    # reach the classical codecs, where dense heads overfit (issue 29).
    context: int = 0
    # Features per position of the trunk's map z -> [F, H, W] (local heads only): what the
    # latent says of the image at each position (8: enough for colour and shape).
    map_features: int = 0

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
        if self.framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, not "
                             f"{self.framing!r}")
        if self.channels not in CHANNEL_MODES:
            raise ValueError(f"channels must be 1-4, not {self.channels}")
        if self.image_side not in FRAME_SIDES or (self.frame_width and
                                                   self.frame_width not in FRAME_SIDES):
            raise ValueError(f"a frame's sides must be {FRAME_SIDES[0]}-{FRAME_SIDES[-1]} "
                             f"pixels, not {self.image_side}x{self.frame_width}")
        if self.framing == "digit" and self.frame != (1, IMAGE_SIDE, IMAGE_SIDE):
            raise ValueError(f"the digit framing is for 1x{IMAGE_SIDE}x{IMAGE_SIDE} frames")
        if self.context and not self.groups:
            raise ValueError("local heads (context) are for pixel-group models")
        if not 0 <= self.context <= 4:
            raise ValueError(f"context must be a radius of 0-4 pixels, not {self.context}")
        if self.context and self.map_features == 0:
            object.__setattr__(self, "map_features", 8)
        if self.map_features and not self.context:
            raise ValueError("map_features is for local heads (context)")
        side = math.isqrt(self.groups) if self.groups else 1
        if self.height % side or self.width % side:
            raise ValueError(f"{self.groups} pixel groups need sides divisible by {side}")
        hidden = tuple(int(h) for h in self.hidden)
        if not hidden or any(not 1 <= h <= 8192 for h in hidden):
            raise ValueError(f"hidden widths must be between 1 and 8192, not {self.hidden}")
        object.__setattr__(self, "hidden", hidden)

    @property
    def height(self) -> int:
        return self.image_side

    @property
    def width(self) -> int:
        return self.frame_width or self.image_side

    @property
    def frame(self) -> tuple[int, int, int]:
        """(channels, height, width): what every image of this model is coded as."""
        return (self.channels, self.height, self.width)

    @property
    def frame_text(self) -> str:
        """The frame as users write it: 28x28 gray, 32x32 RGBA."""
        mode = {"L": "gray", "LA": "gray+alpha"}.get(CHANNEL_MODES[self.channels],
                                                      CHANNEL_MODES[self.channels])
        return f"{self.width}x{self.height} {mode}"

    @property
    def input_dim(self) -> int:
        """Subpixels per image, laid out channel by channel ([C, H, W] flattened)."""
        return self.channels * self.height * self.width

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
        if self.context:  # the trunk ends in a map: map_features per position
            return [self.latent_dim, *reversed(self.hidden),
                    self.map_features * self.height * self.width]
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
        height, width, plane = self.height, self.width, self.height * self.width
        if self.context:  # local heads code one channel at a time: each sees those before
            return [[k * plane + r * width + c for r in range(i, height, block)
                     for c in range(j, width, block)]
                    for i, j in block_positions(block) for k in range(self.channels)]
        # Every channel of a position is in its group: colour costs no extra passes.
        return [[k * plane + r * width + c for k in range(self.channels)
                 for r in range(i, height, block) for c in range(j, width, block)]
                for i, j in block_positions(block)]

    @property
    def head_count(self) -> int:
        """Heads of a group decoder: one per group, or with local heads one per group and
        channel (pixel_groups' coding order)."""
        return self.groups * (self.channels if self.context else 1)

    def head_sizes(self, group: int) -> list[int]:
        """Group g's head: the trunk's features and the pixels of groups 0 .. g-1 (as
        2 v / 255 - 1) in, the [3, mixture, group size] logistic parameters out. A local
        head (context) runs at each position of its group: the map's features there and
        the decoded window around it in, the position's [3, mixture, channels] out."""
        width = self.hidden[0]
        if self.context:  # group: a head of pixel_groups' order, (position group, channel)
            spatial, channel = divmod(group, self.channels)
            known = len(self.context_offsets(spatial)) * self.channels + channel
            return [self.map_features + known, width, width, 3 * self.mixture]
        sizes = [len(g) for g in self.pixel_groups()]
        return [width + sum(sizes[:group]), width, 3 * self.mixture * sizes[group]]

    def group_origins(self) -> list[tuple[int, int]]:
        """Each group's position (row, column) in its block (groups is s x s blocks)."""
        return block_positions(max(1, math.isqrt(self.groups)))

    def context_offsets(self, group: int) -> list[tuple[int, int]]:
        """The window offsets (dy, dx) whose pixels a local head of group g sees: those of
        the groups before it (the same for every position of the group: the groups tile
        the frame in s x s blocks)."""
        origins = self.group_origins()
        order = {origin: g for g, origin in enumerate(origins)}
        block, (i, j), r = math.isqrt(self.groups), origins[group], self.context
        return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                if order[((i + dy) % block, (j + dx) % block)] < group]

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


def context_parts(config: ModelConfig, group: int, fmap, padded) -> list:
    """A local head's inputs at every position of its group (head `group` of pixel_groups'
    order: position group g, channel c), channels first, as parts to concatenate on axis
    1: the map's features there [B, F, H/s, W/s]; for each offset of context_offsets(g),
    the image (padded by the context radius) at that offset [B, C, H/s, W/s]; and the
    position's own channels before c [B, c, H/s, W/s]. Plain strided slicing: the same
    code serves torch tensors and NumPy arrays (torch_nets.py, numpy_nets.py, exact.py)."""
    block = math.isqrt(config.groups)
    spatial, channel = divmod(group, config.channels)
    i, j = config.group_origins()[spatial]
    r, h, w = config.context, config.height, config.width

    def at(dy: int, dx: int, channels: slice):
        return padded[:, channels, r + i + dy : r + i + dy + h : block,
                      r + j + dx : r + j + dx + w : block]

    own = [at(0, 0, slice(0, channel))] if channel else []
    return [fmap[:, :, i::block, j::block],
            *(at(dy, dx, slice(None)) for dy, dx in config.context_offsets(spatial)), *own]


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
