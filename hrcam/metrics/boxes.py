"""Box localization: MaxBoxAccV2 of Choe et al. (CVPR 2020, clovaai/wsolevaluation).

For every threshold ``t`` of a shared grid the normalised map is binarised (``cam >= t``),
a box is drawn around *every* contour that OpenCV finds (``RETR_TREE``, so holes count too:
the "all contours" of V2), and the image's score at ``t`` is the best IoU between any of those
boxes and any ground-truth box. ``BoxAcc(t, d)`` is the share of images whose score reaches
IoU ``d``; ``MaxBoxAcc(d)`` is its maximum over ``t``; MaxBoxAccV2 averages ``d`` in
{0.3, 0.5, 0.7}.

Boxes are ``(x0, y0, x1, y1)`` in pixels with exclusive ends (``x1 = x0 + width``), the
numpy-slicing convention, so a box's area is ``(x1 - x0) * (y1 - y0)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hrcam.metrics._validation import as_map, as_thresholds, normalize_map

__all__ = [
    "IOU_THRESHOLDS",
    "MaxBoxAccResult",
    "box_iou",
    "box_iou_curve",
    "boxes_from_binary",
    "max_box_acc",
]


IOU_THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)
"""The IoU levels averaged by MaxBoxAccV2."""


def as_boxes(boxes: object, name: str = "boxes") -> np.ndarray:
    """Return ``boxes`` as a float (K, 4) array of ``(x0, y0, x1, y1)``; accepts one box."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(
            f"{name} must be (x0, y0, x1, y1) or a (K, 4) array, got shape {arr.shape}"
        )
    if arr.shape[0] and np.any(arr[:, 2:] < arr[:, :2]):
        raise ValueError(f"{name} must have x1 >= x0 and y1 >= y0, got {arr.tolist()}")
    return arr


def box_iou(boxes_a: object, boxes_b: object) -> np.ndarray:
    """Pairwise IoU of two sets of half-open boxes.

    Returns
    -------
    numpy.ndarray, shape (A, B)
    """
    a = as_boxes(boxes_a, "boxes_a")
    b = as_boxes(boxes_b, "boxes_b")
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def boxes_from_binary(binary: np.ndarray) -> np.ndarray:
    """Bounding boxes of all contours (outer and holes) of a binary map, shape (K, 4)."""
    import cv2  # OpenCV ships with grad-cam; imported here to keep module import light

    contours, _ = cv2.findContours(
        np.ascontiguousarray(binary, dtype=np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE
    )
    if not contours:
        return np.zeros((0, 4), dtype=np.float64)
    rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.float64)  # x, y, w, h
    rects[:, 2:] += rects[:, :2]
    return rects


def box_iou_curve(cam: object, gt_boxes: object, thresholds: object = None) -> np.ndarray:
    """Best box IoU of one map at every threshold (boxes from all contours).

    Parameters
    ----------
    cam : array_like, shape (H, W)
        Saliency map; min-max normalised here.
    gt_boxes : array_like, shape (4,) or (K, 4)
        Ground-truth boxes ``(x0, y0, x1, y1)``, exclusive ends.
    thresholds : array_like, optional
        Increasing grid in [0, 1]; default 0, 0.01, ..., 0.99.

    Returns
    -------
    numpy.ndarray, shape (T,)
        For each threshold, the maximum IoU over estimated boxes and ground-truth boxes
        (0 when the binarised map is empty).
    """
    norm = normalize_map(as_map(cam))
    gt = as_boxes(gt_boxes, "gt_boxes")
    if gt.shape[0] == 0:
        raise ValueError("gt_boxes is empty; MaxBoxAcc needs at least one ground-truth box")
    grid = as_thresholds(thresholds)
    # The binary maps are nested, so two thresholds give the same map exactly when they keep
    # the same number of pixels: find contours once per distinct map.
    flat = np.sort(norm.ravel())
    kept = flat.size - np.searchsorted(flat, grid, side="left")
    curve = np.zeros(grid.size, dtype=np.float64)
    for count in np.unique(kept):
        if count == 0:
            continue
        first = int(np.flatnonzero(kept == count)[0])
        boxes = boxes_from_binary(norm >= grid[first])
        if boxes.shape[0]:
            curve[kept == count] = box_iou(boxes, gt).max()
    return curve


@dataclass(frozen=True)
class MaxBoxAccResult:
    """MaxBoxAccV2 of a set of images."""

    value: float  # mean of ``per_iou`` (MaxBoxAccV2, in [0, 1])
    per_iou: dict[float, float]  # IoU level -> MaxBoxAcc at its best threshold
    best_thresholds: dict[float, float]  # IoU level -> the best CAM threshold
    box_acc: np.ndarray  # (len(iou_levels), T): BoxAcc for every level and threshold


def max_box_acc(
    iou_curves: object,
    thresholds: object = None,
    iou_levels: Sequence[float] = IOU_THRESHOLDS,
) -> MaxBoxAccResult:
    """MaxBoxAccV2 from the per-image curves of :func:`box_iou_curve`.

    Parameters
    ----------
    iou_curves : array_like, shape (N, T)
        One :func:`box_iou_curve` per image, all on the same threshold grid.
    thresholds : array_like, optional
        That grid (default 0, 0.01, ..., 0.99).
    iou_levels : sequence of float
        IoU levels to average; default (0.3, 0.5, 0.7).

    Returns
    -------
    MaxBoxAccResult
    """
    curves = np.asarray(iou_curves, dtype=np.float64)
    grid = as_thresholds(thresholds)
    if curves.ndim != 2 or curves.shape[0] == 0 or curves.shape[1] != grid.size:
        raise ValueError(
            f"iou_curves must have shape (N>0, {grid.size}) to match thresholds, got {curves.shape}"
        )
    levels = np.asarray(iou_levels, dtype=np.float64)
    if levels.ndim != 1 or levels.size == 0 or np.any((levels <= 0) | (levels > 1)):
        raise ValueError(f"iou_levels must be values in (0, 1], got {list(iou_levels)}")
    # (L, N, T) hits, averaged over images -> BoxAcc(level, threshold).
    box_acc = (curves[None, :, :] >= levels[:, None, None]).mean(axis=1)
    best = box_acc.argmax(axis=1)
    per_iou = {float(d): float(box_acc[i, best[i]]) for i, d in enumerate(levels)}
    best_t = {float(d): float(grid[best[i]]) for i, d in enumerate(levels)}
    return MaxBoxAccResult(float(np.mean(list(per_iou.values()))), per_iou, best_t, box_acc)
