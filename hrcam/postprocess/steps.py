"""The post-processing steps of the paper's §3.3, each a small pure function on numpy arrays.

Conventions
-----------
- Maps are 2-D arrays indexed ``[row, col]``; points are ``(N, 2)`` integer arrays of
  ``(row, col)``. SimpleITK wants ``(x, y) = (col, row)``; only :func:`connected_threshold`
  converts.
- Continuous maps are returned as ``float32``; masks as ``bool``.
- Functions assume valid input (finite, 2-D, matching shapes); :mod:`.validation` checks what a
  user passes to :func:`hrcam.postprocess.refine` before any step runs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi
from skimage.morphology import local_maxima as _sk_local_maxima
from skimage.morphology import remove_small_holes

__all__ = [
    "add_edges",
    "box_blur",
    "connected_threshold",
    "fill_holes",
    "keep_top_percent",
    "local_maxima",
    "map_points",
    "merge_maps",
    "midrange_maxima",
    "normalize",
    "percentile_of",
    "region_bounds",
    "resize_bilinear",
    "roi_mask",
    "sobel_magnitude",
    "top_n_points",
]


def normalize(x: np.ndarray) -> np.ndarray:
    """Min-max normalise a map to [0, 1].

    Parameters
    ----------
    x
        Finite 2-D array of any real dtype.

    Returns
    -------
    numpy.ndarray
        ``float32`` array, ``(x - min) / (max - min)``. A constant map has no contrast to keep,
        so it becomes all zeros.
    """
    # float64 for the arithmetic so that huge finite inputs (e.g. 1e38) cannot overflow.
    x = np.asarray(x, dtype=np.float64)
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo
    if not np.isfinite(span) or span <= 0.0:
        if span > 0.0:  # hi - lo overflowed: rescale first
            return normalize(x / max(abs(lo), abs(hi)))
        return np.zeros(x.shape, dtype=np.float32)
    out = (x - lo) / span
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32)


@lru_cache(maxsize=32)
def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Row-stochastic ``(n_out, n_in)`` matrix of 1-D linear interpolation.

    Pixel centres are aligned (``align_corners=False``): output pixel ``i`` samples input
    coordinate ``(i + 0.5) * n_in / n_out - 0.5``, clamped to the edge, exactly like
    ``skimage.transform.resize(order=1, mode="edge", anti_aliasing=False)`` and
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``.
    """
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    m = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - frac)
    np.add.at(m, (rows, i1), frac)
    m.setflags(write=False)
    return m


def resize_bilinear(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a 2-D map (pixel centres aligned, edges clamped).

    Bilinear interpolation is separable, so it is computed as ``A @ x @ B.T`` with two small
    interpolation matrices. This gives the same numbers as
    ``skimage.transform.resize(x, shape, order=1, mode="edge", anti_aliasing=False)`` (checked
    in the tests) at a fraction of the cost for 7×7 → 224×224. Meant for upsampling: there is no
    anti-aliasing when shrinking.

    Parameters
    ----------
    x
        2-D map.
    shape
        Output ``(rows, cols)``.

    Returns
    -------
    numpy.ndarray
        ``float32`` map of the given shape.
    """
    x = np.asarray(x, dtype=np.float64)
    rows, cols = int(shape[0]), int(shape[1])
    if x.shape == (rows, cols):
        return x.astype(np.float32)
    out = _interp_matrix(x.shape[0], rows) @ x @ _interp_matrix(x.shape[1], cols).T
    return out.astype(np.float32)


def local_maxima(x: np.ndarray) -> np.ndarray:
    """All local maxima of a map, plateaus included, as ``(row, col)`` points.

    Uses ``skimage.morphology.local_maxima`` with ``allow_borders=True``. Every pixel of a
    maximal plateau is returned. A constant map has no maximum and gives an empty ``(0, 2)``
    array.

    Parameters
    ----------
    x
        2-D map.

    Returns
    -------
    numpy.ndarray
        ``(N, 2)`` ``intp`` array in row-major order.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"local_maxima needs a non-empty 2-D map, got shape {x.shape}")
    mask = _sk_local_maxima(x, allow_borders=True)
    return np.argwhere(mask).astype(np.intp).reshape(-1, 2)


def midrange_maxima(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Keep the maxima whose value is at least the mid-range of all maxima values.

    The threshold is ``(max + min) / 2`` of ``x`` at ``points``, as in the reference code's
    "local" focal-point mode. ``>=`` (the reference uses ``>``) keeps a lone maximum, or several
    of equal height, instead of discarding them all.

    Parameters
    ----------
    x
        2-D map the points index into.
    points
        ``(N, 2)`` ``(row, col)`` points.

    Returns
    -------
    numpy.ndarray
        The kept subset of ``points``.
    """
    points = np.asarray(points, dtype=np.intp).reshape(-1, 2)
    if len(points) == 0:
        return points
    values = np.asarray(x)[points[:, 0], points[:, 1]]
    threshold = (values.max() + values.min()) / 2.0
    return points[values >= threshold]


def map_points(
    points: np.ndarray, from_shape: tuple[int, int], to_shape: tuple[int, int]
) -> np.ndarray:
    """Map pixel positions between two resolutions by aligning pixel centres.

    Low-res pixel ``r`` covers high-res rows ``[r * s, (r + 1) * s)`` with ``s = H / h``; its
    centre is high-res coordinate ``(r + 0.5) * s - 0.5``, which is rounded and clipped. This is
    the same convention the bilinear resize uses, so a low-res maximum lands where the resized
    map peaks.

    Parameters
    ----------
    points
        ``(N, 2)`` ``(row, col)`` points on a ``from_shape`` grid.
    from_shape, to_shape
        ``(rows, cols)`` of the source and target grids.

    Returns
    -------
    numpy.ndarray
        ``(N, 2)`` ``intp`` points on the ``to_shape`` grid, duplicates removed (sorted
        row-major).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return np.zeros((0, 2), dtype=np.intp)
    scale = np.array(to_shape, dtype=np.float64) / np.array(from_shape, dtype=np.float64)
    mapped = np.rint((points + 0.5) * scale - 0.5).astype(np.intp)
    mapped = np.clip(mapped, 0, np.array(to_shape, dtype=np.intp) - 1)
    return np.unique(mapped, axis=0)


def top_n_points(x: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` brightest pixels of a map (the reference code's default focal points).

    Parameters
    ----------
    x
        2-D map.
    n
        How many points; capped at ``x.size``.

    Returns
    -------
    numpy.ndarray
        ``(min(n, x.size), 2)`` ``(row, col)`` points, brightest first. Ties at the cut are
        broken by ``numpy.argpartition`` (deterministic for a given input).
    """
    x = np.asarray(x)
    n = int(min(max(n, 0), x.size))
    if n == 0:
        return np.zeros((0, 2), dtype=np.intp)
    flat = x.ravel()
    idx = np.argpartition(flat, flat.size - n)[flat.size - n :]
    idx = idx[np.argsort(-flat[idx], kind="stable")]
    return np.stack(np.unravel_index(idx, x.shape), axis=1).astype(np.intp)


def roi_mask(x: np.ndarray, percentile: float) -> np.ndarray:
    """Region of interest: pixels at or above a percentile of the map.

    ``>=`` guarantees the maximum is inside, so the ROI is never empty (a constant map gives
    the whole image).

    Parameters
    ----------
    x
        2-D map (the resized low-res CAM).
    percentile
        In [0, 100]; 85 keeps the brightest 15 %.

    Returns
    -------
    numpy.ndarray
        Boolean mask.
    """
    x = np.asarray(x)
    return x >= percentile_of(x, percentile)


def percentile_of(values: np.ndarray, q: float) -> float:
    """``numpy.percentile(values, q)`` (linear interpolation) with a single partition.

    Same value as numpy's default method up to rounding in the last bit; cheaper because it
    skips numpy's generic machinery, which matters at 50k pixels per call.
    """
    flat = np.asarray(values).ravel()
    n = flat.size
    if n == 0:
        raise ValueError("values is empty: no percentile to take")
    pos = (n - 1) * float(q) / 100.0
    lo = int(np.floor(pos))
    hi = min(lo + 1, n - 1)
    part = np.partition(flat, [lo, hi]) if hi != lo else np.partition(flat, lo)
    a, b = float(part[lo]), float(part[hi])
    return a + (b - a) * (pos - lo)


def box_blur(x: np.ndarray, size: int = 5) -> np.ndarray:
    """Mean over a ``size``×``size`` window (``scipy.ndimage.uniform_filter``, mode "reflect").

    "reflect" is the boundary rule of ``scipy.ndimage.convolve``, which the reference code used.
    """
    return ndi.uniform_filter(np.asarray(x, dtype=np.float32), size=size, mode="reflect")


def sobel_magnitude(x: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude, normalised to [0, 1].

    ``sqrt(sobel_rows**2 + sobel_cols**2)`` with ``scipy.ndimage.sobel`` (mode "reflect"); after the
    normalisation this equals ``skimage.filters.sobel`` followed by min-max scaling, which is
    what the reference code grows on. A flat map gives all zeros.
    """
    x = np.asarray(x, dtype=np.float32)
    g_rows = ndi.sobel(x, axis=0, mode="reflect")
    g_cols = ndi.sobel(x, axis=1, mode="reflect")
    # sqrt of squares, not np.hypot: ~10x faster here, and inputs in [0, 1] cannot overflow
    grad = np.sqrt(g_rows * g_rows + g_cols * g_cols)
    # float32 in place: this runs on every call and the values are small and finite
    lo, hi = float(grad.min()), float(grad.max())
    if hi <= lo:
        return np.zeros(grad.shape, dtype=np.float32)
    grad -= lo
    grad *= np.float32(1.0 / (hi - lo))
    return np.clip(grad, 0.0, 1.0, out=grad)


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
    roi = np.asarray(roi, dtype=bool)
    if roi.shape != np.shape(values):
        raise ValueError(f"roi has shape {roi.shape} but values have shape {np.shape(values)}")
    roi_values = np.asarray(values)[roi]
    if roi_values.size == 0:
        raise ValueError("roi is empty: there are no values to take the growth bounds from")
    lower = percentile_of(roi_values, lower_percentile)
    upper = percentile_of(roi_values, upper_percentile)
    return lower, upper, roi_values


def connected_threshold(
    image: np.ndarray, seeds: np.ndarray, lower: float, upper: float
) -> np.ndarray:
    """Region growing with SimpleITK's ``ConnectedThreshold``.

    Grows, with 4-connectivity, the pixels whose value lies in ``[lower, upper]`` and that are
    connected to a seed. A seed whose own value lies outside the bounds grows nothing (ITK's
    rule). Seeds are ``(row, col)`` here and converted to SimpleITK's ``(x, y) = (col, row)``.

    Parameters
    ----------
    image
        2-D map.
    seeds
        ``(N, 2)`` ``(row, col)`` integer points inside ``image``. None gives an empty region.
    lower, upper
        Inclusive bounds.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the grown region.
    """
    image = np.asarray(image, dtype=np.float32)
    seeds = np.asarray(seeds, dtype=np.intp).reshape(-1, 2)
    if len(seeds) == 0:
        return np.zeros(image.shape, dtype=bool)
    rows, cols = image.shape
    if seeds.min() < 0 or seeds[:, 0].max() >= rows or seeds[:, 1].max() >= cols:
        raise ValueError(f"seeds must lie inside the image of shape {image.shape}")
    seed_list = [(int(c), int(r)) for r, c in seeds]
    grown = sitk.ConnectedThreshold(
        sitk.GetImageFromArray(image),
        seedList=seed_list,
        lower=float(lower),
        upper=float(upper),
        replaceValue=1,
    )
    return sitk.GetArrayViewFromImage(grown).astype(bool)


def add_edges(
    region: np.ndarray, gradient: np.ndarray, threshold: float, roi: np.ndarray
) -> np.ndarray:
    """Add strong edges inside the ROI to a region: ``region | ((gradient >= threshold) & roi)``."""
    return np.asarray(region, bool) | ((np.asarray(gradient) >= threshold) & np.asarray(roi, bool))


def fill_holes(mask: np.ndarray, max_size: int = 256) -> np.ndarray:
    """Fill background components of at most ``max_size`` pixels.

    ``skimage.morphology.remove_small_holes(max_size=...)`` (4-connected). As in skimage, a
    small background component touching the border counts as a hole too.
    """
    mask = np.asarray(mask, dtype=bool)
    if max_size <= 0:
        return mask.copy()
    return remove_small_holes(mask, max_size=int(max_size))


def merge_maps(
    region: np.ndarray, low_res: np.ndarray, mode: str = "blend", alpha: float = 0.5
) -> np.ndarray:
    """Combine the binary region with the resized low-res CAM.

    Parameters
    ----------
    region
        Boolean (or [0, 1]) map.
    low_res
        Resized low-res CAM in [0, 1].
    mode
        ``"blend"``: ``alpha * region + (1 - alpha) * low_res``; ``"multiply"``: the product.
    alpha
        Blend weight of ``region``.

    Returns
    -------
    numpy.ndarray
        ``float32`` map in [0, 1].
    """
    region = np.asarray(region, dtype=np.float32)
    low_res = np.asarray(low_res, dtype=np.float32)
    if mode == "blend":
        out = alpha * region + (1.0 - alpha) * low_res
    elif mode == "multiply":
        out = region * low_res
    else:
        raise ValueError(f"mode must be 'blend' or 'multiply', got {mode!r}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def keep_top_percent(x: np.ndarray, percent: float) -> np.ndarray:
    """Mask of the brightest ``percent`` % of pixels (ties at the cut are all kept).

    Used to mask the input image by the refined CAM (the paper's Fig. 4, right).
    """
    x = np.asarray(x)
    if percent <= 0:
        return np.zeros(x.shape, dtype=bool)
    return x >= percentile_of(x, 100.0 - percent)
