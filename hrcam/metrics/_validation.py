"""Shared input checks and normalisation for the localization metrics."""

from __future__ import annotations

import numpy as np

from hrcam.core import maps

__all__ = [
    "DEFAULT_THRESHOLDS",
    "normalize_map",
]


DEFAULT_THRESHOLDS: np.ndarray = np.arange(0.0, 1.0, 0.01)
"""The shared CAM threshold grid of Choe et al. (CVPR 2020): 0, 0.01, ..., 0.99."""


def as_map(cam: object, name: str = "cam") -> np.ndarray:
    """Return ``cam`` as a finite 2-D float64 array, or raise ``ValueError`` naming ``name``."""
    return maps.as_map(cam, name, dtype=np.float64)


def as_mask(mask: object, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """Return ``mask`` as a boolean array of ``shape`` (non-zero = object)."""
    arr = np.asarray(mask)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape} but the map has shape {tuple(shape)}")
    return arr.astype(bool)


def normalize_map(cam: np.ndarray) -> np.ndarray:
    """Min-max normalise a map to [0, 1] in float64; a constant map becomes all zeros.

    This is the per-image ``normalize_scoremap`` step of wsolevaluation: every threshold in
    the shared grid then means the same relative activation for every method. The rule is
    :func:`hrcam.core.maps.normalize_map`, the one the post-processing uses.
    """
    return maps.normalize_map(cam, np.float64)


def as_thresholds(thresholds: object) -> np.ndarray:
    """Validate a threshold grid: 1-D, non-empty, strictly increasing, within [0, 1]."""
    arr = np.asarray(DEFAULT_THRESHOLDS if thresholds is None else thresholds, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D sequence, got shape {arr.shape}")
    if np.any(np.diff(arr) <= 0):
        raise ValueError("thresholds must be strictly increasing")
    if arr[0] < 0.0 or arr[-1] > 1.0:
        raise ValueError("thresholds must lie in [0, 1] (maps are min-max normalised first)")
    return arr
