"""Region growing: the growth bounds, the connected threshold from the seeds, edges, holes."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from hrcam.postprocess.steps.seeds import _percentiles, percentile_of

__all__ = [
    "add_edges",
    "connected_threshold",
    "edge_mask",
    "fill_holes",
    "growth_bounds",
    "region_bounds",
]


def region_bounds(
    values: np.ndarray, roi: np.ndarray, lower_percentile: float, upper_percentile: float
) -> tuple[float, float, np.ndarray]:
    """Growth bounds: two percentiles of a map's values inside the ROI.

    Parameters
    ----------
    values
        2-D map (blurred high-res CAM for the paper, gradient for the reference code).
    roi
        Boolean mask of the same shape; must not be empty.
    lower_percentile, upper_percentile
        Percentiles in [0, 100] (25 and 75 give the 1st and 3rd quartiles).

    Returns
    -------
    tuple
        ``(lower, upper, roi_values)``; ``roi_values`` are the values the percentiles came
        from (for the histogram of the paper's Fig. 3).
    """
    _, roi_values = _roi_values(values, roi)
    lower, upper = _percentiles(roi_values, (lower_percentile, upper_percentile))
    return lower, upper, roi_values


def _roi_values(values: np.ndarray, roi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(roi as bool, values[roi])``, or a ``ValueError`` for a mismatched or empty ROI."""
    roi = np.asarray(roi, dtype=bool)
    if roi.shape != np.shape(values):
        raise ValueError(f"roi has shape {roi.shape} but values have shape {np.shape(values)}")
    roi_values = np.asarray(values)[roi]
    if roi_values.size == 0:
        raise ValueError("roi is empty: there are no values to take the growth bounds from")
    return roi, roi_values


def growth_bounds(
    source: np.ndarray,
    gradient: np.ndarray,
    roi: np.ndarray,
    lower_percentile: float,
    upper_percentile: float,
    edge_percentile: float,
    source_is_gradient: bool,
) -> tuple[float, float, float, np.ndarray]:
    """Region-growing bounds and the edge threshold, from the values inside the ROI.

    ``lower`` and ``upper`` are percentiles of ``source[roi]`` (:func:`region_bounds`); the
    edge threshold is a percentile of ``gradient[roi]`` (:func:`edge_mask`). When the source
    *is* the gradient, all three come from one selection of the same values, so an edge
    percentile equal to the upper one gives the upper bound itself (the reference code's
    rule).

    Parameters
    ----------
    source
        The map region growing runs on.
    gradient
        The Sobel gradient magnitude.
    roi
        Boolean ROI mask; must not be empty.
    lower_percentile, upper_percentile, edge_percentile
        Percentiles in [0, 100].
    source_is_gradient
        Whether ``source`` is ``gradient``.

    Returns
    -------
    tuple
        ``(lower, upper, edge_threshold, roi_values)`` with ``roi_values = source[roi]``.
    """
    roi, roi_values = _roi_values(source, roi)
    if source_is_gradient:
        # All three from one selection; each percentile is computed alone from exact order
        # statistics, so an edge percentile equal to the upper one gives the upper bound.
        qs = (lower_percentile, upper_percentile, edge_percentile)
        lower, upper, edge = _percentiles(roi_values, qs)
    else:
        lower, upper = _percentiles(roi_values, (lower_percentile, upper_percentile))
        edge = percentile_of(np.asarray(gradient)[roi], edge_percentile)
    return lower, upper, edge, roi_values


def connected_threshold(
    image: np.ndarray,
    seeds: np.ndarray,
    lower: float,
    upper: float,
    *,
    backend: Literal["opencv", "simpleitk"] = "opencv",
) -> np.ndarray:
    """Region growing: what SimpleITK's ``ConnectedThreshold`` returns, bit for bit.

    Grows, with 4-connectivity, the pixels whose value lies in ``[lower, upper]`` and that are
    connected to a seed. A seed whose own value lies outside the bounds grows nothing (ITK's
    rule). ITK casts the bounds to the image's pixel type (``float32``) and compares pixels
    with them (checked in the tests), so the pixels in range are
    ``float32(lower) <= image <= float32(upper)``; the grown region is the union of the
    4-connected components of those pixels that hold a seed.

    By default it is computed with OpenCV: ``inRange`` marks the pixels in range in one pass,
    and a scanline ``floodFill`` from each seed visits only the region it grows. SimpleITK's
    call costs ~0.6 ms of filter set-up and image conversion on a 224×224 map; this ~0.05 ms.
    ``backend="simpleitk"`` runs SimpleITK's ``ConnectedThreshold`` itself; the tests check
    that both backends give the same mask.

    Parameters
    ----------
    image
        2-D map.
    seeds
        ``(N, 2)`` ``(row, col)`` integer points inside ``image``. None gives an empty region.
    lower, upper
        Inclusive bounds.
    backend
        ``"opencv"`` (fast, the default) or ``"simpleitk"`` (the paper's library).

    Returns
    -------
    numpy.ndarray
        Boolean mask of the grown region.
    """
    if backend not in ("opencv", "simpleitk"):
        raise ValueError(f"backend must be 'opencv' or 'simpleitk', got {backend!r}")
    image = np.ascontiguousarray(image, dtype=np.float32)
    seeds = np.asarray(seeds, dtype=np.intp).reshape(-1, 2)
    if len(seeds) == 0:
        return np.zeros(image.shape, dtype=bool)
    rows, cols = image.shape
    if seeds.min() < 0 or seeds[:, 0].max() >= rows or seeds[:, 1].max() >= cols:
        raise ValueError(f"seeds must lie inside the image of shape {image.shape}")
    if backend == "simpleitk":
        return _sitk_connected_threshold(image, seeds, lower, upper)
    with np.errstate(over="ignore"):  # bounds beyond float32 become ±inf, as in a C cast
        lo32, hi32 = float(np.float32(lower)), float(np.float32(upper))
    # The bounds are exact float32 values, so OpenCV's own cast of them changes nothing.
    marks = cv2.inRange(image, lo32, hi32)  # 255 in range, 0 outside
    for r, c in seeds.tolist():
        if marks[r, c] == _IN_RANGE:  # in range and not yet grown from an earlier seed
            cv2.floodFill(marks, None, (c, r), _GROWN, flags=4)
    return marks == _GROWN


#: Marks of :func:`connected_threshold`: pixels in range, and pixels grown from a seed.
_IN_RANGE, _GROWN = 255, 1


def _sitk_connected_threshold(
    image: np.ndarray, seeds: np.ndarray, lower: float, upper: float
) -> np.ndarray:
    """:func:`connected_threshold` through SimpleITK (imported here: it is slow to load)."""
    import SimpleITK as sitk

    grown = sitk.ConnectedThreshold(
        sitk.GetImageFromArray(image),
        seedList=[(int(c), int(r)) for r, c in seeds],  # SimpleITK's points are (x, y)
        lower=float(lower),
        upper=float(upper),
        replaceValue=1,
    )
    return sitk.GetArrayViewFromImage(grown).astype(bool)


def edge_mask(
    gradient: np.ndarray, threshold: float, roi: np.ndarray, *, enabled: bool = True
) -> np.ndarray:
    """Strong edges inside the ROI: ``(gradient >= threshold) & (gradient > 0) & roi``.

    A zero gradient is never an edge. Without that rule a flat ROI, whose gradient and hence
    threshold are all zero, would be "all edges".

    Parameters
    ----------
    gradient
        2-D gradient magnitude (:func:`sobel_magnitude`).
    threshold
        Gradient value at or above which a pixel is an edge.
    roi
        Boolean mask of the same shape.
    enabled
        False gives no edges (an all-False mask): :attr:`RefineConfig.add_edges` off.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the edges.
    """
    if not enabled:
        return np.zeros(np.shape(roi), dtype=bool)
    gradient = np.asarray(gradient)
    return (gradient >= threshold) & (gradient > 0) & np.asarray(roi, dtype=bool)


def add_edges(
    region: np.ndarray, gradient: np.ndarray, threshold: float, roi: np.ndarray
) -> np.ndarray:
    """Add strong edges inside the ROI to a region: ``region | edge_mask(gradient, ...)``.

    See :func:`edge_mask` for which pixels are edges.
    """
    return np.asarray(region, dtype=bool) | edge_mask(gradient, threshold, roi)


def fill_holes(mask: np.ndarray, max_size: int = 256) -> np.ndarray:
    """Fill background components of at most ``max_size`` pixels.

    Same result as ``skimage.morphology.remove_small_holes(mask, max_size=max_size)``
    (4-connected; checked in the tests). As in skimage, a small background component touching
    the border counts as a hole too. Written as skimage does it (label the background, count
    each component's pixels, fill the small ones) without its per-call checks and copies, with
    OpenCV's labelling, and only inside the mask's bounding box when that is exact
    (:func:`_hole_search_box`).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"fill_holes needs a 2-D mask, got shape {mask.shape}")
    if max_size <= 0 or mask.size == 0:
        return mask.copy()
    max_size = int(max_size)
    box = _hole_search_box(mask, max_size)
    if box is None:
        return _fill_small_background(mask, max_size, ring=(False, False, False, False))
    r0, r1, c0, c1, ring = box
    out = mask.copy()
    out[r0:r1, c0:c1] = _fill_small_background(mask[r0:r1, c0:c1], max_size, ring)
    return out


def _hole_search_box(
    mask: np.ndarray, max_size: int
) -> tuple[int, int, int, int, tuple[bool, bool, bool, bool]] | None:
    """Where holes can be: the mask's bounding box grown by one pixel, or ``None`` for all of it.

    Outside the mask's bounding box everything is background, made of up to four full-length
    bands (above, below, left, right of the box). When each band is empty or larger than
    ``max_size``, every background component that reaches outside the box is too large to be
    a hole, and those are exactly the components that touch the one-pixel ring around the box.
    So only the box (plus ring) needs labelling, typically a few times fewer pixels. Otherwise
    (no mask pixel, or a thin band that may itself be a small hole) the whole mask is used.

    Returns ``(r0, r1, c0, c1, ring)``: the slice bounds and, for the top, bottom, left and
    right side, whether that side of the slice is a ring of outside background.
    """
    rows, cols = mask.shape
    # OpenCV's bounding box of the nonzero pixels: one vectorised pass
    left, top, width, height = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    if width == 0:
        return None
    bottom, right = top + height - 1, left + width - 1
    bands = (top * cols, (rows - 1 - bottom) * cols, left * rows, (cols - 1 - right) * rows)
    if any(0 < band <= max_size for band in bands):
        return None
    ring = (top > 0, bottom < rows - 1, left > 0, right < cols - 1)
    return (
        top - ring[0],
        bottom + 1 + ring[1],
        left - ring[2],
        right + 1 + ring[3],
        ring,
    )


#: Up to this many unfilled components, :func:`_fill_small_background` compares labels.
_FEW_LABELS = 4


def _fill_small_background(
    mask: np.ndarray, max_size: int, ring: tuple[bool, bool, bool, bool]
) -> np.ndarray:
    """``mask`` with its background components of at most ``max_size`` pixels set.

    Components that touch a side flagged in ``ring`` (top, bottom, left, right) continue
    outside ``mask`` and are never filled.
    """
    # 4-connected, skimage's connectivity=1; OpenCV labels several times faster than
    # ndi.label, and which number a component gets does not matter, only its pixel count
    n, labels = cv2.connectedComponents((~mask).view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if n == 1:  # no background pixel
        return mask.copy()
    small = np.bincount(labels.ravel(), minlength=n) <= max_size
    for side, edge in zip(ring, (labels[0], labels[-1], labels[:, 0], labels[:, -1]), strict=True):
        if side:
            small[edge] = False
    small[0] = True  # label 0 is the mask itself: stays set
    # Usually one or two components stay unfilled (the background around the object):
    # comparing against those is several times cheaper than the lookup small[labels].
    large = np.flatnonzero(~small)
    if large.size > _FEW_LABELS:
        return small[labels]
    if large.size == 0:
        return np.ones(mask.shape, dtype=bool)
    out = labels != large[0]
    for label in large[1:]:
        out &= labels != label
    return out
