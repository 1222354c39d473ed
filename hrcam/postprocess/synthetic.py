"""Synthetic low-res/high-res CAM pairs with a known object, for tests, benchmarks and demos.

They imitate what the two networks produce, so that localisation can be measured:

- the *high-res* map shows the object's exact shape (a brighter, textured region) over a weaker,
  smoothly varying background, with the checkerboard artefacts of a stride-2 transposed
  convolution and a little pixel noise;
- the *low-res* map is the object mask average-pooled to the classifier's grid (e.g. 7×7),
  so it knows *where* the object is but not its shape.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["ellipse_mask", "synthetic_pair"]


def ellipse_mask(
    shape: tuple[int, int],
    center: tuple[float, float],
    axes: tuple[float, float],
    angle: float = 0.0,
) -> np.ndarray:
    """Boolean mask of a filled, rotated ellipse.

    Parameters
    ----------
    shape
        ``(rows, cols)`` of the mask.
    center
        ``(row, col)`` of the centre.
    axes
        Semi-axes ``(a, b)`` in pixels, along the rotated row and column directions.
    angle
        Rotation in radians.
    """
    rr, cc = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    dr, dc = rr - center[0], cc - center[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u = cos * dr + sin * dc
    v = -sin * dr + cos * dc
    return (u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1.0


def _unit_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Smooth Gaussian random field rescaled to [0, 1]."""
    f = ndi.gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="reflect")
    return (f - f.min()) / (np.ptp(f) + 1e-12)


def synthetic_pair(
    seed: int = 0,
    shape: tuple[int, int] = (224, 224),
    low_shape: tuple[int, int] = (7, 7),
    object_scale: float = 1.4,
    noise: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw a random elongated object and the low-res/high-res CAMs a model might give for it.

    The high-res map is ``0.6 + 0.3 * texture`` on the object (texture: a smooth random field,
    sigma 3 px) and ``0.45 * background`` elsewhere (background: a field with sigma
    ``rows / 12``), plus a 0.03 checkerboard and Gaussian noise. The low-res map is the object
    mask blurred (sigma ``rows / 11``, the classifier's large receptive field), average-pooled
    to ``low_shape``, plus uniform noise of amplitude 0.03 (spurious weak maxima).

    Parameters
    ----------
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives the same arrays.
    shape
        High-res (image) shape; each side must be a multiple of the matching ``low_shape`` side.
    low_shape
        Low-res CAM shape.
    object_scale
        Scales the ellipse's semi-axes (drawn in ``[0.22, 0.32] * rows`` by
        ``[0.08, 0.14] * cols`` before scaling). At 1.4 the object is about as large as the
        15 % ROI; at 1.0 it is smaller and the ROI spills onto the background.
    noise
        Standard deviation of the per-pixel Gaussian noise of the high-res map.

    Returns
    -------
    tuple
        ``(low_res_cam, high_res_cam, object_mask)``: ``float32`` ``low_shape`` map,
        ``float32`` ``shape`` map, boolean ``shape`` mask.
    """
    rows, cols = shape
    if rows % low_shape[0] or cols % low_shape[1]:
        raise ValueError(f"shape {shape} must be a multiple of low_shape {low_shape}")
    rng = np.random.default_rng(seed)
    center = (rng.uniform(0.35, 0.65) * rows, rng.uniform(0.35, 0.65) * cols)
    axes = (
        rng.uniform(0.22, 0.32) * rows * object_scale,
        rng.uniform(0.08, 0.14) * cols * object_scale,
    )
    mask = ellipse_mask(shape, center, axes, rng.uniform(0.0, np.pi))

    texture = _unit_field(rng, shape, 3.0)
    background = _unit_field(rng, shape, rows / 12)
    high = np.where(mask, 0.6 + 0.3 * texture, 0.45 * background)
    high = high + 0.03 * (np.indices(shape).sum(axis=0) % 2)  # transposed-conv artefacts
    high = high + noise * rng.standard_normal(shape)

    soft = ndi.gaussian_filter(mask.astype(np.float64), sigma=rows / 11, mode="constant")
    fr, fc = rows // low_shape[0], cols // low_shape[1]
    low = soft.reshape(low_shape[0], fr, low_shape[1], fc).mean(axis=(1, 3))
    low = low + 0.03 * rng.random(low_shape)
    return low.astype(np.float32), high.astype(np.float32), mask
