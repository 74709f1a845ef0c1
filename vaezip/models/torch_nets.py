"""The models of the post: a plain autoencoder and a VAE with a Bernoulli or Gaussian decoder.

One definition of each architecture. Every loss is in nats per image: summed over the
784 pixels (and latent dimensions), averaged over the batch. Shapes in comments use
B = batch, D = 784 pixels, K = latent_dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vaezip.models.config import ModelConfig, context_parts


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last): [Linear, ReLU, Linear, ...],
    so layer i's parameters are `{i * 2}.weight` and `{i * 2}.bias` (see mlp_parameter_names)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per image, summed over latent dims: [B, K] -> [B].

    Closed form from Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), App. B:
    -KL = 1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def logistic_params(out: torch.Tensor, mixture: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decoder output [B, 3 * M * D] -> (mixture logits, means, log scales), each
    [B, M, D]; means and scales in the pixel scale [-1, 1] (level v at 2 v / 255 - 1)."""
    b = out.shape[0]
    params = out.view(b, 3, mixture, -1)
    # The floor on log scales keeps a component from collapsing into one level's spike
    # so sharply that its CDF differences underflow.
    return params[:, 0], params[:, 1], params[:, 2].clamp(min=-7.0)


def logistic_mean(out: torch.Tensor, mixture: int) -> torch.Tensor:
    """Decoder output [B, 3 * M * D] -> the mixture's mean per pixel, [B, D], clamped to
    the pixel scale [-1, 1]."""
    weights, means, _ = logistic_params(out, mixture)
    return (torch.softmax(weights, 1) * means).sum(1).clamp(-1, 1)


def logistic_mixture_nll(out: torch.Tensor, x: torch.Tensor, mixture: int) -> torch.Tensor:
    """-log p(x | z) per image for 8-bit pixels under a mixture of discretised logistics
    (Salimans et al. 2017, PixelCNN++): x [B, D] in [0, 1] (levels / 255) -> [B] nats.

    Level v takes the logistic's mass over [v - 1/2, v + 1/2] (in levels); level 0 also
    takes everything below, level 255 everything above, so the 256 masses sum to 1.
    """
    weights, means, log_scales = logistic_params(out, mixture)  # [B, M, D] each
    level = torch.round(x * 255).unsqueeze(1)  # [B, 1, D]
    centred = (2 * level / 255 - 1) - means  # [B, M, D]
    inv_scale = torch.exp(-log_scales)
    upper = inv_scale * (centred + 1 / 255)
    lower = inv_scale * (centred - 1 / 255)
    log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper): level 0
    log_sf_lower = -F.softplus(lower)  # log (1 - sigmoid(lower)): level 255
    mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    # Where the mass underflows, the density at the centre times the bin width.
    mid = inv_scale * centred
    log_density = mid - log_scales - 2 * F.softplus(mid) + math.log(2 / 255)
    log_mid = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_density)
    log_p = torch.where(level < 0.5, log_cdf_upper,
                        torch.where(level > 254.5, log_sf_lower, log_mid))  # [B, M, D]
    log_mix = torch.logsumexp(log_p + torch.log_softmax(weights, dim=1), dim=1)  # [B, D]
    return -log_mix.sum(dim=1)


@dataclass
class LossTerms:
    loss: torch.Tensor  # scalar the optimiser minimises (nats per image)
    recon: torch.Tensor  # scalar: reconstruction term (nats per image; SSE for the AE)
    kl: torch.Tensor  # scalar: KL term (nats per image; 0 for the AE)


class AutoEncoder(nn.Module):
    """The post's autoencoder: MLP encoder, sigmoid latent in [0, 1]^K, MLP decoder."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = mlp(config.encoder_sizes())
        self.decoder = mlp(config.decoder_sizes())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, D] in [0, 1] -> z: [B, K] in (0, 1)."""
        return torch.sigmoid(self.encoder(x))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z: [B, K] -> pixel means: [B, D] in (0, 1). (labels: unused, one interface.)"""
        return torch.sigmoid(self.decoder(z))

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None,
             labels: torch.Tensor | None = None) -> LossTerms:
        """labels: unused (the autoencoder is not conditional); kept for one interface."""
        x = x.flatten(1)  # [B, D]
        x_hat = self.mean_reconstruction(x)  # [B, D]
        sse = (x_hat - x).pow(2).sum(dim=1).mean()
        return LossTerms(loss=sse, recon=sse, kl=torch.zeros_like(sse))

    forward = loss  # DistributedDataParallel syncs gradients through forward()

    def prior_sample(self, n: int, generator: torch.Generator | None = None,
                     temperature: float = 1.0) -> torch.Tensor:
        """The autoencoder has no prior: draw uniformly over its latent box (0, 1)^K,
        which shows where its latent space has holes. Temperature shrinks the box
        around its centre. [n, K]"""
        device = next(self.parameters()).device
        u = torch.rand((n, self.config.latent_dim), generator=generator, device=device)
        return 0.5 + (u - 0.5) * temperature

    def mean_reconstruction(self, x: torch.Tensor, labels: torch.Tensor | None = None
                            ) -> torch.Tensor:
        """x [B, D] -> [B, D] in (0, 1)."""
        return self.decode(self.encode(x.flatten(1)))


class VAE(nn.Module):
    """Encoder -> (mu, log sigma^2); z = mu + eps * sigma; decoder -> p(x | z).

    With config.classes > 0 (arch "cvae") it is the conditional VAE: the encoder sees
    (x, y) and the decoder (z, y), y the one-hot label, so p(x | z, y) and q(z | x, y);
    every method then takes the labels ([B] ints).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        # One MLP trunk whose last layer emits mu and log sigma^2 side by side.
        self.encoder = mlp(config.encoder_sizes())
        self.decoder = mlp(config.decoder_sizes())

    def with_label(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """[B, F] -> [B, F + C], the one-hot label appended (a conditional model only)."""
        if not self.config.conditional:
            return t
        if labels is None:
            raise ValueError("a conditional model needs the labels")
        return torch.cat([t, F.one_hot(labels.long(), self.config.classes).to(t.dtype)], 1)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, D] -> (mu, logvar), each [B, K]."""
        mu, logvar = self.encoder(self.with_label(x, labels)).chunk(2, dim=1)
        return mu, logvar

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + eps * sigma with eps ~ N(0, I): a sample that gradients flow through."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)

    def decoder_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """z: [B, K] -> pre-sigmoid decoder output: [B, D]."""
        return self.decoder(self.with_label(z, labels))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z: [B, K] -> pixel means: [B, D] in [0, 1] (Bernoulli p, the Gaussian mean, or
        the logistic mixture's mean)."""
        out = self.decoder_logits(z, labels)
        if self.config.likelihood == "logistic":
            return (logistic_mean(out, self.config.mixture) + 1) / 2
        return torch.sigmoid(out)

    def reconstruction_nll(self, x: torch.Tensor, z: torch.Tensor,
                           labels: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(x | z) per image: x [B, D], z [B, K] -> [B].

        Bernoulli: binary cross-entropy (on grayscale targets, as pytorch/examples does).
        Gaussian, unit variance: 1/2 * ||x - x_hat||^2; the constant D/2 * log(2 pi)
        is left out, as in the post.
        """
        logits = self.decoder_logits(z, labels)
        if self.config.likelihood == "logistic":
            return logistic_mixture_nll(logits, x, self.config.mixture)
        if self.config.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
        return 0.5 * (torch.sigmoid(logits) - x).pow(2).sum(dim=1)

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None,
             labels: torch.Tensor | None = None) -> LossTerms:
        x = x.flatten(1)  # [B, D]
        mu, logvar = self.encode(x, labels)  # [B, K] each
        z = self.reparameterize(mu, logvar, generator)  # [B, K]
        recon = self.reconstruction_nll(x, z, labels).mean()
        kl = gaussian_kl(mu, logvar).mean()
        return LossTerms(loss=recon + kl, recon=recon, kl=kl)

    forward = loss  # DistributedDataParallel syncs gradients through forward()

    def prior_sample(self, n: int, generator: torch.Generator | None = None,
                     temperature: float = 1.0) -> torch.Tensor:
        """n draws from the prior N(0, T^2 I): [n, K]."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.config.latent_dim), generator=generator, device=device)
        return z * temperature

    def mean_reconstruction(self, x: torch.Tensor, labels: torch.Tensor | None = None
                            ) -> torch.Tensor:
        """Decode the posterior mean: x [B, D] -> [B, D] in (0, 1)."""
        return self.decode(self.encode(x.flatten(1), labels)[0], labels)


class GroupVAE(VAE):
    """A VAE whose decoder predicts the pixels in groups (config.groups, issue 17): a
    trunk z -> features h, then one head per group, head g seeing h and the pixels of
    groups 0 .. g-1. Training feeds the true pixels to every head at once (teacher
    forcing: one pass); decoding runs the heads in order, each on what came before, as
    the lossless coder does (codecs/exact.py).
    """

    # Dropout on the trunk's features and the heads' hidden units while training (a
    # training setting, train.TrainSettings.dropout, set by the trainer): the heads hold
    # most of the weights and overfit (issue 17). Evaluation and coding never drop.
    dropout: float = 0.0

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.heads = nn.ModuleList(mlp(config.head_sizes(g)) for g in range(config.head_count))
        self._noise: torch.Generator | None = None
        for g, pixels in enumerate(config.pixel_groups()):
            self.register_buffer(f"pixels_{g}", torch.tensor(pixels), persistent=False)

    def groups(self) -> list[torch.Tensor]:
        return [getattr(self, f"pixels_{g}") for g in range(self.config.head_count)]

    def _head(self, g: int, h: torch.Tensor, seen: list[torch.Tensor]) -> torch.Tensor:
        """Group g's parameters [B, 3, M, |g|] from h [B, W] and the earlier groups' pixels
        in the [-1, 1] scale."""
        out = torch.cat([h, *seen], dim=1)
        for layer in self.heads[g]:
            out = layer(out)
            if isinstance(layer, nn.ReLU):
                out = self._dropped(out)
        return out.view(len(h), 3, self.config.mixture, -1)

    def _dropped(self, t: torch.Tensor) -> torch.Tensor:
        """Inverted dropout while training, its masks drawn from the loss's generator so
        that a resumed run repeats an uninterrupted one."""
        if not (self.training and self.dropout):
            return t
        keep = torch.empty_like(t).bernoulli_(1 - self.dropout, generator=self._noise)
        return t * keep / (1 - self.dropout)

    def decoder_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                       x: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, K] and the pixels x [B, D] in [0, 1] -> every pixel's logistic parameters
        [B, 3 M D] (the plain decoder's layout), each group's given the true pixels before
        it. Without x, the pixels are the decoder's own means, group by group."""
        h = self._dropped(torch.relu(self.decoder(z)))  # [B, W]
        b, m, d = len(z), self.config.mixture, self.config.input_dim
        full = h.new_zeros(b, 3, m, d)
        seen: list[torch.Tensor] = []
        for g, pixels in enumerate(self.groups()):
            params = self._head(g, h, seen)  # [B, 3, M, |g|]
            full[..., pixels] = params
            seen.append(2 * x[:, pixels] - 1 if x is not None
                        else logistic_mean(params.flatten(1), m))
        return full.flatten(1)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, K] -> pixel means [B, D] in [0, 1], group by group."""
        return (logistic_mean(self.decoder_logits(z), self.config.mixture) + 1) / 2

    def reconstruction_nll(self, x: torch.Tensor, z: torch.Tensor,
                           labels: torch.Tensor | None = None) -> torch.Tensor:
        return logistic_mixture_nll(self.decoder_logits(z, x=x), x, self.config.mixture)

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None,
             labels: torch.Tensor | None = None) -> LossTerms:
        self._noise = generator
        try:
            return super().loss(x, generator, labels)
        finally:
            self._noise = None

    forward = loss


class LocalGroupVAE(GroupVAE):
    """A group decoder with local heads (config.context): the trunk maps z to features
    per position [F, H, W], and group g's head, one MLP shared by all its positions, sees
    at each position the map there and the window of pixels of earlier groups around it
    (config.context_parts). What the exact coder computes in integers (codecs/exact.py)."""

    def _local_head(self, g: int, fmap: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Head g's parameters [B, 3, M, P] (one channel of its position group, row by row:
        config.pixel_groups' order) from the map [B, F, H, W] and the image
        [B, C, H, W] in the [-1, 1] scale (only earlier groups' pixels are read)."""
        c = self.config
        padded = F.pad(image, (c.context,) * 4)  # outside the frame: 0
        inputs = torch.cat(context_parts(c, g, fmap, padded), dim=1)  # [B, F + C n, H/s, W/s]
        out = inputs.permute(0, 2, 3, 1)
        for layer in self.heads[g]:
            out = layer(out)
            if isinstance(layer, nn.ReLU):
                out = self._dropped(out)
        b, rows, cols = out.shape[:3]  # [B, H/s, W/s, 3 M] -> [B, 3, M, H/s, W/s]
        out = out.view(b, rows, cols, 3, c.mixture).permute(0, 3, 4, 1, 2)
        return out.reshape(b, 3, c.mixture, -1)

    def decoder_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                       x: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        fmap = self._dropped(torch.relu(self.decoder(z))).view(len(z), c.map_features,
                                                                c.height, c.width)
        b, m, d = len(z), c.mixture, c.input_dim
        full = fmap.new_zeros(b, 3, m, d)
        image = fmap.new_zeros(b, d)  # the pixels decoded so far, [-1, 1]; 0: not yet
        for g, pixels in enumerate(self.groups()):
            params = self._local_head(g, fmap, image.view(b, c.channels, c.height, c.width))
            full[..., pixels] = params
            image = image.clone()
            image[:, pixels] = (2 * x[:, pixels] - 1 if x is not None
                                else logistic_mean(params.flatten(1), m))
        return full.flatten(1)


def build_model(config: ModelConfig) -> AutoEncoder | VAE:
    """The one place that maps a config to its module ("vae" and "cvae" share VAE)."""
    if config.arch == "ae":
        return AutoEncoder(config)
    if config.context:
        return LocalGroupVAE(config)
    return GroupVAE(config) if config.groups else VAE(config)
