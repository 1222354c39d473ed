"""Pointing game and energy-based pointing game.

The pointing game (Zhang et al., ECCV 2016, "Top-down neural attention by excitation
backprop") counts a hit when the map's maximum falls on the object. The energy-based variant
(Wang et al., CVPR-W 2020, "Score-CAM") scores the share of the map's mass that lies on the
object, so it also rewards maps that are *compact* around the object.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hrcam.metrics._validation import as_map, as_mask, normalize_map

__all__ = [
    "energy_pointing_game",
    "pointing_game",
]


def _object_mask(mask: object, shape: tuple[int, ...]) -> np.ndarray:
    obj = as_mask(mask, shape)
    if not obj.any():
        raise ValueError("mask has no object pixels; the pointing game needs an object")
    return obj


def pointing_game(cam: object, mask: object, tolerance: float = 0.0) -> float:
    """Pointing-game score of one map.

    Parameters
    ----------
    cam : array_like, shape (H, W)
        Saliency map (any real range).
    mask : array_like, shape (H, W)
        Ground-truth object mask; non-zero pixels are the object.
    tolerance : float, default 0
        A maximum within this many pixels (Euclidean) of the object still counts as a hit.
        Zhang et al. use 15 px on ImageNet/VOC-sized images; 0 is the strict version.

    Returns
    -------
    float
        1.0 for a hit and 0.0 for a miss. When several pixels share the maximum, the share of
        them that hit, so that a flat map scores the object's area fraction (chance level)
        instead of whatever ``argmax`` happens to pick first.
    """
    arr = as_map(cam)
    obj = _object_mask(mask, arr.shape)
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    if tolerance > 0:
        # Distance of every pixel to the nearest object pixel.
        obj = ndimage.distance_transform_edt(~obj) <= tolerance
    peak = arr == arr.max()
    return float(obj[peak].mean())


def energy_pointing_game(cam: object, mask: object) -> float:
    """Share of the map's mass that lies on the object (energy-based pointing game).

    The map is min-max normalised first, so that maps with negative values (raw CAMs) and
    maps with an offset compare fairly: mass is counted above the map's own minimum.

    Parameters
    ----------
    cam : array_like, shape (H, W)
        Saliency map.
    mask : array_like, shape (H, W)
        Ground-truth object mask.

    Returns
    -------
    float
        ``sum(cam * mask) / sum(cam)`` in [0, 1]. A flat map scores the object's area fraction.
    """
    arr = as_map(cam)
    obj = _object_mask(mask, arr.shape)
    norm = normalize_map(arr)
    total = norm.sum()
    if total <= 0.0:
        return float(obj.mean())  # flat map: mass spread evenly
    return float(norm[obj].sum() / total)
