"""Distribution shift: Gaussian noise and common image corruptions with a severity axis.

After Hendrycks & Dietterich (2019, arXiv:1903.12261), who corrupt test images at five
discrete severities, prunelab uses one continuous severity ``s`` in [0, 1] per corruption
(prunelab's own scales, see ``docs/definitions.md``); ``s = 0`` is the identity for every one.
Sizes scale with the image height ``H`` so that 8×8 digits and 28×28 Fashion-MNIST get the same
relative corruption:

=================  =========================================================================
corruption         at severity ``s``
=================  =========================================================================
``gaussian_noise`` add N(0, s²) per pixel (s is the standard deviation in pixel units)
``blur``           Gaussian blur with standard deviation ``s · H / 14`` pixels (2 px at 28×28)
``contrast``       move every pixel a fraction ``s`` towards its image's mean (s = 1: flat)
``rotation``       rotate by ``45° · s`` about the centre, sign drawn per image
``shift``          translate by ``s · H / 7`` pixels (4 px at 28×28), direction drawn per image
=================  =========================================================================

Every corrupted image is clipped to [0, 1]; rotation and shift resample bilinearly and fill
with 0 (the background of the digit and clothing images). Random parts (noise, signs,
directions) are drawn once per draw and reused at every severity (common random numbers), so
a curve over severities is smooth for each draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError

#: prepared corruption of one batch of images: severity -> corrupted images (n, 1, H, W)
Applier = Callable[[float], torch.Tensor]


@dataclass(frozen=True)
class Corruption:
    """A corruption with its severity scale.

    Attributes
    ----------
    name : str
    strength_name, strength_label : str
        ``"sigma"`` / ``"severity"`` and a plot label.
    random : bool
        Whether it draws random numbers (else every draw is the same).
    description : str
    prepare : callable
        ``(images float32 (n, 1, H, W) in [0, 1], rng) -> (severity -> images)``.
    """

    name: str
    strength_name: str
    strength_label: str
    random: bool
    description: str
    prepare: Callable[[torch.Tensor, np.random.Generator], Applier]


def _clip(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, 0.0, 1.0)


def _noise(x: torch.Tensor, rng: np.random.Generator) -> Applier:
    z = torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32))
    return lambda s: _clip(x + float(s) * z)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    if sigma < 1e-6:  # the limit of a Gaussian: a delta, so severity 0 is exactly the identity
        return torch.ones(1)
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(torch.float32)


def _blur(x: torch.Tensor, rng: np.random.Generator) -> Applier:
    height = x.shape[-2]

    def apply(s: float) -> torch.Tensor:
        k = _gaussian_kernel(float(s) * height / 14.0)
        r = (k.numel() - 1) // 2
        # separable: rows then columns; replicate padding keeps the border's brightness
        out = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.reshape(1, 1, 1, -1))
        out = F.conv2d(F.pad(out, (0, 0, r, r), mode="replicate"), k.reshape(1, 1, -1, 1))
        return _clip(out)

    return apply


def _contrast(x: torch.Tensor, rng: np.random.Generator) -> Applier:
    mean = x.mean(dim=(-2, -1), keepdim=True)
    # x - s (x - m) rather than m + (1 - s)(x - m): exactly x at s = 0
    return lambda s: _clip(x - float(s) * (x - mean))


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Bilinear resampling of images (n, 1, H, W) by affine maps theta (n, 2, 3), zero fill."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return _clip(F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False))


def _rotation(x: torch.Tensor, rng: np.random.Generator) -> Applier:
    sign = torch.from_numpy(rng.choice([-1.0, 1.0], size=x.shape[0]).astype(np.float32))
    height, width = x.shape[-2:]

    def apply(s: float) -> torch.Tensor:
        if (
            s == 0.0
        ):  # grid_sample at the identity map rounds on some sizes (28x28): keep s = 0 exact
            return x.clone()
        a = sign * math.radians(45.0 * float(s))
        cos, sin = torch.cos(a), torch.sin(a)
        # normalised coordinates stretch x and y differently on non-square images
        theta = torch.zeros(x.shape[0], 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * height / width
        theta[:, 1, 0], theta[:, 1, 1] = sin * width / height, cos
        return _warp(x, theta)

    return apply


def _shift(x: torch.Tensor, rng: np.random.Generator) -> Applier:
    phi = torch.from_numpy(rng.uniform(0.0, 2.0 * math.pi, size=x.shape[0]).astype(np.float32))
    height, width = x.shape[-2:]

    def apply(s: float) -> torch.Tensor:
        if s == 0.0:  # as for rotation
            return x.clone()
        d = float(s) * height / 7.0  # pixels
        theta = torch.zeros(x.shape[0], 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        # sampling at (u - t) moves the content by +t; 2/W normalised units per pixel
        theta[:, 0, 2] = -d * torch.cos(phi) * 2.0 / width
        theta[:, 1, 2] = -d * torch.sin(phi) * 2.0 / height
        return _warp(x, theta)

    return apply


#: corruptions by name
CORRUPTIONS: Registry[Corruption] = Registry("corruption")
for _c in (
    Corruption(
        "gaussian_noise",
        "sigma",
        "noise σ (pixel units)",
        True,
        "add Gaussian noise of standard deviation σ (pixel units) to every pixel",
        _noise,
    ),
    Corruption(
        "blur",
        "severity",
        "blur severity (σ = s·H/14 px)",
        False,
        "Gaussian blur of standard deviation s·H/14 pixels",
        _blur,
    ),
    Corruption(
        "contrast",
        "severity",
        "contrast reduction s",
        False,
        "move every pixel a fraction s towards the image mean",
        _contrast,
    ),
    Corruption(
        "rotation",
        "severity",
        "rotation severity (45°·s)",
        True,
        "rotate each image by 45°·s, sign drawn per image",
        _rotation,
    ),
    Corruption(
        "shift",
        "severity",
        "shift severity (s·H/7 px)",
        True,
        "translate each image by s·H/7 pixels in a direction drawn per image",
        _shift,
    ),
):
    CORRUPTIONS.register(_c.name, _c, help=_c.description)


def image_batch(x: torch.Tensor | np.ndarray, image_shape: tuple[int, int] | None) -> torch.Tensor:
    """Flat inputs (n, H·W) as images (n, 1, H, W); a square shape is assumed when none is given."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32).reshape(len(x), -1)
    if image_shape is None:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ConfigError(
                f"corruptions need images: {x.shape[1]} features is not a square; pass image_shape=(H, W)"
            )
        image_shape = (side, side)
    height, width = (int(v) for v in image_shape)
    if height * width != x.shape[1]:
        raise ConfigError(
            f"image_shape {image_shape} has {height * width} pixels but the inputs have {x.shape[1]} features"
        )
    return x.reshape(len(x), 1, height, width)


def prepare_corruption(
    name: str,
    x: torch.Tensor | np.ndarray,
    rng: np.random.Generator | int | None = None,
    image_shape: tuple[int, int] | None = None,
) -> Callable[[float], torch.Tensor]:
    """Draw a corruption's randomness once for inputs ``x``; return ``severity -> corrupted x``.

    Parameters
    ----------
    name : str
        A key of :data:`CORRUPTIONS` (an unknown name gets the closest one suggested).
    x : array (n, H·W) float32 in [0, 1]
        Flat images, not modified.
    rng : numpy.random.Generator or int or None
    image_shape : (H, W), optional
        Default: square images.

    Returns
    -------
    callable
        ``severity in [0, 1] -> Tensor (n, H·W) float32 in [0, 1]``; severity 0 returns ``x``.
    """
    spec = CORRUPTIONS.get(name)
    images = image_batch(x, image_shape)
    apply = spec.prepare(images, np.random.default_rng(rng))

    def corrupt_at(severity: float) -> torch.Tensor:
        s = float(severity)
        if not (math.isfinite(s) and 0.0 <= s <= 1.0):
            raise ConfigError(f"{spec.strength_name} of {name} must be in [0, 1], got {severity!r}")
        return apply(s).reshape(images.shape[0], -1)

    return corrupt_at


def corrupt(
    name: str, x, severity: float, rng=None, image_shape: tuple[int, int] | None = None
) -> torch.Tensor:
    """Corrupt flat images ``x`` (n, H·W) at one severity; see :func:`prepare_corruption`."""
    return prepare_corruption(name, x, rng, image_shape)(severity)
