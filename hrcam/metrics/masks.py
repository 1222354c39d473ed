"""Pixel-level localization against ground-truth masks: IoU at the best threshold and PxAP.

Definitions follow Choe et al., "Evaluating Weakly Supervised Object Localization Methods
Right" (CVPR 2020; github.com/clovaai/wsolevaluation): each map is min-max normalised, then
binarised at every threshold of one shared grid (``cam >= t``), and the pixel counts are
computed for all thresholds at once from one sort of the map.

**PxAP is a data-set statistic** (Choe et al., §4.2 and their ``MaskEvaluator``): the true and
false positive pixel counts at each threshold are *summed over every image of the split*, and
one precision-recall curve is drawn from the sums,

    P(t) = sum_n TP_n(t) / sum_n (TP_n(t) + FP_n(t)),   R(t) = sum_n TP_n(t) / sum_n |mask_n|,
    PxAP = sum_j P(t_j) (R(t_j) - R(t_{j-1}))  over t_j = 1.0, 0.99, ..., 0.01, 0 (descending),

with R above t = 1 taken as 0 and P taken as 0 where nothing is predicted (its recall step is
0 there), as wsolevaluation's ``MaskEvaluator.compute`` does (``(precision[1:] *
diff(recall))`` summed over the thresholds where something is predicted; its bins end at 1.0).
A large object therefore weighs more than a small one.
:func:`dataset_pxap` computes it; :func:`image_ap` is the same formula on one image, and the
*mean of per-image APs* is a different statistic (it weighs every image alike).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hrcam.metrics._validation import (
    DEFAULT_THRESHOLDS,
    as_map,
    as_mask,
    as_thresholds,
    normalize_map,
)

__all__ = [
    "PXAP_THRESHOLDS",
    "PixelCounts",
    "average_precision_from_counts",
    "best_mask_iou",
    "dataset_pxap",
    "image_ap",
    "iou_curve",
    "pixel_counts",
    "pxap",
    "pxap_from_counts",
    "pxap_thresholds",
]


PXAP_THRESHOLDS: np.ndarray = np.append(DEFAULT_THRESHOLDS, 1.0)
"""wsolevaluation's PxAP grid: its CAM thresholds 0, 0.01, ..., 0.99 and the end point 1.0."""


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


def pxap_thresholds(thresholds: object = None) -> np.ndarray:
    """Return the PxAP grid of a CAM threshold grid: ``thresholds`` with 1.0 appended.

    wsolevaluation bins scores at its thresholds plus 1.0 (and 2.0, 3.0, which only catch
    scores above 1), so a pixel at the map's maximum counts at ``t = 1`` as well.
    """
    grid = as_thresholds(thresholds)
    return grid if grid[-1] == 1.0 else np.append(grid, 1.0)


def pxap_from_counts(
    tp: np.ndarray, fp: np.ndarray, num_pos: float | np.ndarray
) -> float | np.ndarray:
    """PxAP from true/false positive pixel counts on an increasing grid that ends at 1.0.

    The formula of the module docstring (wsolevaluation's ``MaskEvaluator.compute``): counts
    are read from the highest threshold down, and every recall step is weighted by the
    precision where it ends (0 where nothing is predicted, where the step is 0 as well).

    Parameters
    ----------
    tp, fp
        ``(..., T)`` counts at the thresholds of :func:`pxap_thresholds`, already summed over
        the images of the data set (a leading axis holds e.g. bootstrap resamples).
    num_pos
        Object pixels of the data set, scalar or ``(...)``.

    Returns
    -------
    float or numpy.ndarray
        PxAP in [0, 1] (a float for 1-D counts).
    """
    tp = np.asarray(tp, dtype=np.float64)[..., ::-1]  # descending thresholds
    fp = np.asarray(fp, dtype=np.float64)[..., ::-1]
    pos = np.asarray(num_pos, dtype=np.float64)[..., None]
    if np.any(pos <= 0):
        raise ValueError("no object pixels in the masks; PxAP is undefined")
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = tp / pos
    # Recall steps from 0 (no pixel above 1.0) to R(1.0), R(0.99), ..., R(0).
    steps = np.diff(recall, axis=-1, prepend=0.0)
    out = np.sum(steps * precision, axis=-1)
    return float(out) if out.ndim == 0 else out


def image_ap(cam: object, mask: object, thresholds: object = None) -> float:
    """Apply the PxAP formula to one image alone (its own precision-recall curve).

    Averaging this over images is *not* PxAP (see the module docstring): it is reported, where
    at all, as the "mean per-image AP".
    """
    counts = pixel_counts(cam, mask, pxap_thresholds(thresholds))
    return pxap_from_counts(counts.tp, counts.fp, counts.num_pos)  # type: ignore[return-value]


def dataset_pxap(cams: object, masks: object, thresholds: object = None) -> float:
    """PxAP of a data set (Choe et al., CVPR 2020): pixel counts summed over every image.

    Parameters
    ----------
    cams : sequence of array_like, each (H, W)
        One saliency map per image; each is min-max normalised on its own.
    masks : sequence of array_like, each (H, W)
        The ground-truth object masks, one per map; together they need one object pixel.
    thresholds : array_like, optional
        CAM threshold grid (default 0, 0.01, ..., 0.99); 1.0 is appended as wsolevaluation does.

    Returns
    -------
    float
        PxAP in [0, 1].
    """
    grid = pxap_thresholds(thresholds)
    cams, masks = list(cams), list(masks)  # type: ignore[call-overload]
    if len(cams) != len(masks) or not cams:
        raise ValueError(f"need as many masks as maps (at least one); got {len(cams)} maps "
                         f"and {len(masks)} masks")  # fmt: skip
    tp = np.zeros(grid.size)
    fp = np.zeros(grid.size)
    pos = 0
    for cam, mask in zip(cams, masks, strict=True):
        c = pixel_counts(cam, mask, grid)
        tp, fp, pos = tp + c.tp, fp + c.fp, pos + c.num_pos
    return pxap_from_counts(tp, fp, pos)  # type: ignore[return-value]


def pxap(cam: object, mask: object, thresholds: object = None) -> float:
    """PxAP of one image: :func:`dataset_pxap` of a one-image data set (= :func:`image_ap`).

    Parameters
    ----------
    cam : array_like, shape (H, W)
        Saliency map.
    mask : array_like, shape (H, W)
        Ground-truth object mask; must contain at least one object pixel.
    thresholds : array_like, optional
        Threshold grid in [0, 1] (default: 100 steps of 0.01; 1.0 is appended).

    Returns
    -------
    float
        Average precision in [0, 1].
    """
    return image_ap(cam, mask, thresholds)


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
