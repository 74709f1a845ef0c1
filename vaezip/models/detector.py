"""Is this input a digit at all? A score that warns before a non-digit is coded as one.

A VAE's own likelihood does not answer this: gradients, filled shapes and text lines
brought into model space get ELBOs as good as a digit's (bench/ood.py; Nalisnick et al.
2019, "Do deep generative models know what they don't know?"). So the score looks at a
few things together: the model's KL and reconstruction error, and how the ink is laid
out (stroke interiors, anti-aliased edges, the ink's extent, components and holes). Each
input becomes a vector of FEATURES; the score is its squared Mahalanobis distance from
the nearest digit class of the training set, divided by the distance that
CALIBRATION_QUANTILE of held-out training digits stay under. Above 1 warns.

The detector (a Gaussian per class, and the threshold) is measured on the training set
when a model is trained and stored in its weights file's metadata ("nondigit"). It only
warns: it never changes what is coded, so it needs none of the coders' exactness.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from vaezip.models.numpy_nets import NumpyModel

# Not among them: the share of saturated pixels. MNIST's ink always peaks at full
# intensity, a photographed digit's seldom does, and examples/two-on-paper.png warned.
FEATURES = ("kl", "sq_error", "mid_gray", "interior1", "interior2", "depth", "fill",
            "height", "width", "ink", "euler", "holes")
# Held-out training digits above the threshold: 0.3%. The MNIST test set's writers differ,
# and 0.7% of its digits warn: under the 1% the warning may cost (bench/ood.py).
# The features of a plain-framed model (any frame, gray or colour): the model's KL and
# error, the image's levels, contrast, edges, colour and transparency, and its margin's
# level and opacity. The margin tells a domain best: without it, an icon model (transparent
# margins) warned about 46% of Fashion-MNIST's clothes (black, opaque margins); with it,
# about all of them (bench/your_images.py warned).
PLAIN_FEATURES = ("kl", "sq_error", "mean", "spread", "edges", "colour", "clear",
                  "margin_level", "margin_opacity")
MARGIN = 2  # pixels: the frame's outer ring that margin_level and margin_opacity average
CALIBRATION_QUANTILE = 0.997
RIDGE = 1e-3  # added to the standardised covariance: some features nearly coincide
# A Gaussian over the features needs many more images than features; the fit sees half.
MIN_PER_CLASS = 100
INK, SOLID = 0.2, 0.5  # pixel levels that count as ink, and as a stroke's solid core


# Masks are handled as bit rows: [N, H] uint64, bit j of row i being pixel (i, j), so that
# erosion and flooding cost a few integer operations per row instead of one per pixel.
ONE = np.uint64(1)


def _bit_rows(mask: np.ndarray) -> np.ndarray:
    """[N, H, W] bool (W <= 64) -> [N, H] uint64."""
    bits = ONE << np.arange(mask.shape[2], dtype=np.uint64)
    return (mask * bits).sum(2, dtype=np.uint64)


def _popcount(rows: np.ndarray) -> np.ndarray:
    """Set bits per image: [N, H] uint64 -> [N]."""
    return np.unpackbits(rows.view(np.uint8).reshape(len(rows), -1), axis=1).sum(1)


def _erode(rows: np.ndarray) -> np.ndarray:
    """3x3 binary erosion; outside the frame counts as background."""
    across = rows & (rows << ONE) & (rows >> ONE)
    out = across.copy()
    out[:, 1:] &= across[:, :-1]
    out[:, :-1] &= across[:, 1:]
    out[:, [0, -1]] = 0
    return out


def _euler_number(mask: np.ndarray) -> np.ndarray:
    """Components minus holes of [N, H, W] masks (8-connected ink), from the counts of
    2x2 windows with one, three and two diagonal pixels set (Gray, 1971): a digit has
    1, 0 or -1; speckle has dozens."""
    p = np.pad(mask, ((0, 0), (1, 1), (1, 1))).astype(np.int8)
    a, b, c, d = p[:, :-1, :-1], p[:, :-1, 1:], p[:, 1:, :-1], p[:, 1:, 1:]
    total = a + b + c + d
    diagonal = (total == 2) & (a == d)
    return ((total == 1).sum((1, 2)) - (total == 3).sum((1, 2))
            - 2 * diagonal.sum((1, 2))) / 4


def _hole_area(ink: np.ndarray, width: int) -> np.ndarray:
    """Background pixels that the frame's edge cannot reach, flooding 4-connected:
    ink [N, H] bit rows -> [N]."""
    free = ~ink & ((ONE << np.uint64(width)) - ONE)
    reach = free & (ONE | ONE << np.uint64(width - 1))  # the left and right edges
    reach[:, [0, -1]] = free[:, [0, -1]]  # the top and bottom rows
    while True:
        grown = reach | (reach << ONE) | (reach >> ONE)
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= free
        if np.array_equal(grown, reach):
            return _popcount(free & ~reach)
        reach = grown


def features(net, pixels: np.ndarray, labels=None, posterior=None) -> np.ndarray:
    """pixels: [N, 28, 28] or [N, 784] in model space -> [N, len(FEATURES)] float64.
    net: a NumpyModel of a VAE (encode -> mu, sigma; decode -> pixel means); posterior:
    its (mu, sigma) of these pixels, where the caller has them."""
    x = np.asarray(pixels, np.float32).reshape(len(pixels), -1)  # [N, 784]
    side = int(round(x.shape[1] ** 0.5))
    mu, sigma = posterior or net.encode(x, labels)  # [N, K]
    sigma = np.clip(sigma, 1e-6, None)
    kl = 0.5 * (mu**2 + sigma**2 - 1 - 2 * np.log(sigma)).sum(1)  # [N]
    sq_error = ((net.decode(mu, labels) - x) ** 2).sum(1)
    if net.config.framing == "plain":
        return _plain_features(x, net.config.frame, kl, sq_error)
    ink = x.reshape(-1, side, side) > INK  # [N, 28, 28]
    rows = _bit_rows(ink)  # [N, 28]
    count = ink.sum((1, 2))
    per_ink = np.maximum(count, 1)
    once = _erode(rows)
    twice = _erode(once)
    solid, depth = _bit_rows(x.reshape(-1, side, side) > SOLID), np.zeros(len(x))
    for _ in range(side // 2):  # how many erosions the solid ink survives
        solid = _erode(solid)
        alive = solid.any(1)
        if not alive.any():
            break
        depth += alive
    height, width = ink.any(2).sum(1), ink.any(1).sum(1)
    return np.stack([
        kl, sq_error,
        ((x > INK) & (x < 1 - INK)).sum(1) / per_ink,  # anti-aliased edges, or blur
        _popcount(once) / per_ink, _popcount(twice) / per_ink, depth,
        count / np.maximum(height * width, 1), height, width, count,
        _euler_number(ink), _hole_area(rows, side) / per_ink,
    ], axis=1).astype(np.float64)


def _plain_features(x: np.ndarray, frame, kl, sq_error) -> np.ndarray:
    """The features of images in a plain frame [N, C * H * W]: per image."""
    channels, height, width = frame
    planes = x.reshape(len(x), channels, height, width)
    colour = planes[:, : 3 if channels >= 3 else 1]
    gray = colour.mean(1)  # [N, H, W]
    alpha = planes[:, -1] if channels in (2, 4) else np.ones_like(gray)
    edges = (np.abs(np.diff(gray, axis=1)).mean((1, 2)) + np.abs(np.diff(gray, axis=2)).mean(
        (1, 2)))
    spread_of_colour = colour.std(1).mean((1, 2)) if colour.shape[1] > 1 else np.zeros(len(x))
    margin = np.ones((height, width), bool)
    margin[MARGIN:-MARGIN, MARGIN:-MARGIN] = False
    return np.stack([kl, sq_error, gray.mean((1, 2)), gray.std((1, 2)), edges,
                     spread_of_colour, (alpha < 0.5).mean((1, 2)), gray[:, margin].mean(1),
                     alpha[:, margin].mean(1)], axis=1).astype(np.float64)


@dataclass(frozen=True)
class Detector:
    """A calibrated detector: score(features) > 1 means "not like the training digits".

    One Gaussian per class of the training set (per digit: a 1 and an 8 differ in most
    features), on standardised features; the score is the squared Mahalanobis distance
    to the nearest class, over the threshold (Lee et al. 2018, "A simple unified framework
    for detecting out-of-distribution samples"). One Gaussian for all digits flagged
    fewer shapes at the same false-warning rate (81% against 86% on 200 of them)."""

    mean: tuple[float, ...]  # [F] of all training vectors, for standardising
    scale: tuple[float, ...]  # [F]
    class_means: tuple[tuple[float, ...], ...]  # [C][F], standardised
    precisions: tuple[tuple[tuple[float, ...], ...], ...]  # [C][F][F] (covariance + RIDGE)
    threshold: float  # squared distance that CALIBRATION_QUANTILE of digits stay under
    features: tuple[str, ...] = FEATURES

    def distances(self, vectors: np.ndarray) -> np.ndarray:
        """[N, F] feature vectors -> [N] squared distances to the nearest class."""
        z = (vectors - np.asarray(self.mean)) / np.asarray(self.scale)  # [N, F]
        d = z[:, None, :] - np.asarray(self.class_means)[None]  # [N, C, F]
        return np.einsum("ncf,cfg,ncg->nc", d, np.asarray(self.precisions), d).min(1)

    def score(self, vectors: np.ndarray) -> np.ndarray:
        """[N, F] feature vectors -> [N] scores; above 1 warns."""
        return self.distances(vectors) / self.threshold

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Detector:
        """Raises ValueError unless text is a complete detector over today's FEATURES."""
        d = json.loads(text)
        if not isinstance(d, dict) or tuple(d.get("features", ())) not in (FEATURES,
                                                                            PLAIN_FEATURES):
            raise ValueError("not a detector over the features " + ", ".join(FEATURES))
        n = len(d["features"])
        mean, scale = np.asarray(d["mean"], float), np.asarray(d["scale"], float)
        means, precisions = np.asarray(d["class_means"], float), np.asarray(d["precisions"], float)
        classes = len(means)
        if (mean.shape, scale.shape, means.shape, precisions.shape) != (
                (n,), (n,), (classes, n), (classes, n, n)) or not classes:
            raise ValueError(f"a detector needs {n} means and scales and [C, {n}] class means "
                             f"with [C, {n}, {n}] precisions")
        threshold = float(d["threshold"])
        if not (threshold > 0 and scale.min() > 0):
            raise ValueError("threshold and scales must be positive")
        return cls(tuple(mean), tuple(scale), tuple(map(tuple, means)),
                   tuple(tuple(map(tuple, p)) for p in precisions), threshold,
                   tuple(d["features"]))


def calibrate(net, pixels: np.ndarray, labels=None, classes=None,
              seed: int = 0) -> Detector | None:
    """Fit on half of the training images (shuffled with seed) and set the threshold on
    the other half, so that it is not the fit's own optimism. labels: what a conditional
    model is given; classes: the class of each image (default: one class). None: too few
    images to say what is typical (fewer than 2 * MIN_PER_CLASS)."""
    if len(pixels) < 2 * MIN_PER_CLASS:
        return None
    classes = np.zeros(len(pixels), int) if classes is None else np.asarray(classes)
    if np.unique(classes, return_counts=True)[1].min() < 2 * MIN_PER_CLASS:
        classes = np.zeros(len(pixels), int)  # too few of some class: one for all
    order = np.random.default_rng(seed).permutation(len(pixels))
    half = len(order) // 2
    parts = [order[:half], order[half:]]
    vectors = [features(net, pixels[p], None if labels is None else labels[p])
               for p in parts]
    fit, fit_classes = vectors[0], classes[parts[0]]
    mean, scale = fit.mean(0), fit.std(0) + 1e-9
    z = (fit - mean) / scale
    means, precisions = [], []
    for c in np.unique(fit_classes):
        zc = z[fit_classes == c]
        means.append(tuple(zc.mean(0)))
        precision = np.linalg.inv(np.cov(zc, rowvar=False) + RIDGE * np.eye(z.shape[1]))
        precisions.append(tuple(map(tuple, precision)))
    names = PLAIN_FEATURES if net.config.framing == "plain" else FEATURES
    unit = Detector(tuple(mean), tuple(scale), tuple(means), tuple(precisions), 1.0, names)
    threshold = float(np.quantile(unit.distances(vectors[1]), CALIBRATION_QUANTILE))
    if not threshold > 0:
        return None  # every image alike: nothing to tell a digit by
    return Detector(unit.mean, unit.scale, unit.class_means, unit.precisions, threshold,
                    names)


def calibrate_stored(data: bytes, config, pixels: np.ndarray, labels=None,
                     classes=None) -> Detector | None:
    """calibrate() for the weights file `data` (the weights as stored, e.g. float16, since
    encoding runs those), on pixels [N, 784] in model space."""
    from safetensors.numpy import load

    return calibrate(NumpyModel(config, load(data)), pixels, labels, classes)
