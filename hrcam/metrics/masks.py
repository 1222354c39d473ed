"""Pixel-level localization against ground-truth masks: IoU at the best threshold and PxAP.

Definitions follow Choe et al., "Evaluating Weakly Supervised Object Localization Methods
Right" (CVPR 2020; github.com/clovaai/wsolevaluation): each map is min-max normalised, then
binarised at every threshold of one shared grid (``cam >= t``), and the pixel counts are
computed for all thresholds at once from one sort of the map.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hrcam.metrics._validation import as_map, as_mask, as_thresholds, normalize_map


class PixelCounts(NamedTuple):
    """True/false positive pixel counts of a thresholded map, one entry per threshold."""

    thresholds: np.ndarray  # (T,) increasing
    tp: np.ndarray  # (T,) object pixels with cam >= t
    fp: np.ndarray  # (T,) background pixels with cam >= t
    num_pos: int  # object pixels
    num_neg: int  # background pixels


def pixel_counts(cam: object, mask: object, thresholds: object = None) -> PixelCounts:
    """Count true and false positive pixels of ``normalize(cam) >= t`` for every threshold.

    Parameters
    ----------
    cam : array_like, shape (H, W)
        Saliency map; min-max normalised here.
    mask : array_like, shape (H, W)
        Ground-truth object mask (non-zero = object).
    thresholds : array_like, optional
        Increasing grid in [0, 1]; default 0, 0.01, ..., 0.99 as in wsolevaluation.

    Returns
    -------
    PixelCounts
    """
    arr = normalize_map(as_map(cam))
    obj = as_mask(mask, arr.shape)
    grid = as_thresholds(thresholds)
    pos = np.sort(arr[obj])
    neg = np.sort(arr[~obj])
    # Number of values >= t is len - (number of values < t): one searchsorted per class.
    tp = pos.size - np.searchsorted(pos, grid, side="left")
    fp = neg.size - np.searchsorted(neg, grid, side="left")
    return PixelCounts(grid, tp.astype(np.int64), fp.astype(np.int64), int(pos.size), int(neg.size))


def average_precision_from_counts(tp: np.ndarray, fp: np.ndarray, num_pos: int) -> float:
    """Average precision ``sum_j (R_j - R_{j-1}) P_j`` from counts on an increasing grid.

    This is scikit-learn's ``average_precision_score`` (step-wise, no interpolation)
    restricted to the grid's operating points. ``tp``/``fp`` may be summed over images to
    get the pooled PxAP of wsolevaluation.
    """
    if num_pos <= 0:
        raise ValueError("mask has no object pixels; average precision is undefined")
    tp = np.asarray(tp, dtype=np.float64)[::-1]  # descending thresholds: recall increases
    fp = np.asarray(fp, dtype=np.float64)[::-1]
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.ones_like(tp), where=predicted > 0)
    recall = tp / num_pos
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * precision))


def pxap(cam: object, mask: object, thresholds: object = None) -> float:
    """PxAP: area under the pixel precision-recall curve of one map against its mask.

    Parameters
    ----------
    cam : array_like, shape (H, W)
        Saliency map.
    mask : array_like, shape (H, W)
        Ground-truth object mask; must contain at least one object pixel.
    thresholds : array_like, optional
        Threshold grid in [0, 1] (default: 100 steps of 0.01). Passing every distinct value
        of the normalised map reproduces ``sklearn.metrics.average_precision_score`` exactly.

    Returns
    -------
    float
        Average precision in [0, 1].
    """
    counts = pixel_counts(cam, mask, thresholds)
    return average_precision_from_counts(counts.tp, counts.fp, counts.num_pos)


def iou_curve(cam: object, mask: object, thresholds: object = None) -> np.ndarray:
    """IoU between ``normalize(cam) >= t`` and the mask, for every threshold ``t``.

    Returns
    -------
    numpy.ndarray, shape (T,)
        ``tp / (tp + fp + fn)``; 0 where the union is empty.
    """
    counts = pixel_counts(cam, mask, thresholds)
    union = counts.num_pos + counts.fp  # tp + fp + fn = num_pos + fp
    return np.divide(
        counts.tp, union, out=np.zeros(counts.tp.shape, dtype=np.float64), where=union > 0
    ).astype(np.float64)


def best_mask_iou(cam: object, mask: object, thresholds: object = None) -> tuple[float, float]:
    """Mask IoU of one map at its own best threshold (an optimistic, per-image oracle).

    For a dataset score with one shared threshold, average :func:`iou_curve` over images
    and take the maximum of the mean curve (what :mod:`hrcam.evaluate` reports).

    Returns
    -------
    (iou, threshold) : tuple of float
    """
    grid = as_thresholds(thresholds)
    curve = iou_curve(cam, mask, grid)
    best = int(np.argmax(curve))
    return float(curve[best]), float(grid[best])
