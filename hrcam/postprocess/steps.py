"""The post-processing steps of the paper's §3.3, each a small pure function on numpy arrays.

Conventions
-----------
- Maps are 2-D arrays indexed ``[row, col]``; points are ``(N, 2)`` integer arrays of
  ``(row, col)``. OpenCV's flood fill wants ``(x, y) = (col, row)``; only
  :func:`connected_threshold` converts.
- Continuous maps are returned as ``float32``; masks as ``bool``.
- Functions assume valid input (finite, 2-D, matching shapes); :mod:`.validation` checks what a
  user passes to :func:`hrcam.postprocess.refine` before any step runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np
from scipy import ndimage as ndi

from hrcam._shared import normalize_map

__all__ = [
    "add_edges",
    "box_blur",
    "connected_threshold",
    "edge_mask",
    "fill_holes",
    "focal_points",
    "growth_bounds",
    "growth_failure",
    "keep_top_percent",
    "local_maxima",
    "map_points",
    "merge_maps",
    "midrange_maxima",
    "normalize",
    "percentile_of",
    "refined_map",
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
    return normalize_map(x)  # the one rule, shared with the metrics and baselines


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

    Same result as ``skimage.morphology.local_maxima(x, allow_borders=True)`` (checked in the
    tests, plateaus included): a maximum is an 8-connected plateau of equal values with no
    strictly higher 8-neighbour; pixels outside the map do not count, and pixels at the map's
    global minimum are never maxima (skimage pads the map with its minimum, so such a plateau
    touches the padding). Every pixel of a maximal plateau is returned. A constant map has no
    maximum and gives an empty ``(0, 2)`` array.

    Computed with whole-array neighbour comparisons instead of skimage's flood fill, which
    costs ~0.6 ms of Python and setup overhead on a 7×7 map.

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
    if x.dtype == bool:
        x = x.view(np.uint8)
    rows, cols = x.shape
    not_max = x == x.min()
    # Each of the four "forward" neighbour directions, as (pixel, neighbour) slice pairs; the
    # backward directions are the same pairs swapped.
    pairs = []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = (slice(0, rows - dr), slice(max(0, -dc), cols - max(0, dc)))
        b = (slice(dr, rows), slice(max(0, dc), cols - max(0, -dc)))
        xa, xb = x[a], x[b]
        not_max[a] |= xb > xa
        not_max[b] |= xa > xb
        pairs.append((a, b, xa == xb))
    # A plateau is a maximum only if none of its pixels is "not a maximum": spread the flag
    # along equal neighbours until nothing changes (at most the plateau's diameter in rounds).
    pairs = [(a, b, eq) for a, b, eq in pairs if eq.any()]
    while pairs:
        before = int(np.count_nonzero(not_max))
        for a, b, eq in pairs:
            not_max[a] |= not_max[b] & eq
            not_max[b] |= not_max[a] & eq
        if int(np.count_nonzero(not_max)) == before:
            break
    return np.argwhere(~not_max).astype(np.intp).reshape(-1, 2)


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
    rows, cols = int(to_shape[0]), int(to_shape[1])
    scale = (rows / float(from_shape[0]), cols / float(from_shape[1]))
    if len(points) <= _FEW_POINTS:
        # A handful of local maxima: plain float arithmetic is the same IEEE double
        # arithmetic, round() rounds half to even like np.rint, and a sorted set of (row, col)
        # is row-major order; a dozen numpy calls on tiny arrays cost more.
        mapped = {
            tuple(
                min(max(round((float(v) + 0.5) * k - 0.5), 0), n - 1)
                for v, k, n in zip(point, scale, (rows, cols), strict=True)
            )
            for point in points.tolist()
        }
        return np.array(sorted(mapped), dtype=np.intp).reshape(-1, 2)
    mapped = np.rint((points + 0.5) * np.array(scale) - 0.5).astype(np.intp)
    mapped = np.clip(mapped, 0, np.array([rows, cols], dtype=np.intp) - 1)
    # unique of flat indices sorts row-major like np.unique(axis=0), without its structured view
    flat = np.unique(mapped[:, 0] * cols + mapped[:, 1])
    return np.stack(np.divmod(flat, cols), axis=1).astype(np.intp)


#: Up to this many points, :func:`map_points` maps them in plain Python.
_FEW_POINTS = 32


def top_n_points(x: np.ndarray, n: int) -> np.ndarray:
    """Return the ``n`` brightest pixels of a map (the reference code's default focal points).

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
    idx = _distinct_top_n(flat, n)
    if idx is None:
        idx = np.argpartition(flat, flat.size - n)[flat.size - n :]
        idx = idx[np.argsort(-flat[idx], kind="stable")]
    return np.stack(np.unravel_index(idx, x.shape), axis=1).astype(np.intp)


def _distinct_top_n(flat: np.ndarray, n: int) -> np.ndarray | None:
    """Flat indices of the ``n`` largest values, largest first, when that answer is unique.

    ``argpartition`` on the whole map costs ~0.5 ms at 224×224. When exactly ``n`` values are
    at or above the ``n``-th largest and no two of them are equal, the brightest-first list is
    fully determined by the values, so any exact method returns what ``argpartition`` followed
    by the stable sort returns. Otherwise (ties inside or at the cut, where ``argpartition``'s
    internal order decides) it returns ``None``.

    The candidates are the values at or above a floor read from a strided sample, so that one
    pass over the map finds them: when at least ``n`` values reach the floor (counted, never
    assumed), the ``n`` largest are all among them. Otherwise the floor is the exact ``n``-th
    largest value (:func:`_order_stats`).
    """
    if flat.size < _BRACKET_MIN_SIZE:
        return None
    stride = flat.size // _BRACKET_SAMPLE
    sample = flat[::stride]
    # the k-th largest sample value has about k * stride values above it: aim at 4n of them
    k = min(sample.size, -(-4 * n // stride) + 1)
    floor = np.partition(sample, sample.size - k)[sample.size - k]
    idx = np.flatnonzero(flat >= floor)
    if idx.size < n:
        (floor,) = _order_stats(flat, [flat.size - n])
        idx = np.flatnonzero(flat >= floor)
    values = flat[idx]
    if idx.size > n:
        keep = np.argpartition(values, idx.size - n)[idx.size - n :]
        cut = values[keep].min()
        if np.count_nonzero(values >= cut) != n:  # ties at the cut
            return None
        idx, values = idx[keep], values[keep]
    order = np.argsort(-values, kind="stable")
    values = values[order]
    if np.any(values[1:] == values[:-1]):
        return None
    return idx[order]


def focal_points(
    low_res: np.ndarray,
    low_res_resized: np.ndarray,
    mode: str = "local_maxima",
    top_n: int = 15,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Choose the seeds of region growing, per :attr:`RefineConfig.focal_mode`.

    Parameters
    ----------
    low_res
        The normalised low-res CAM at its own resolution.
    low_res_resized
        The same map resized to the high-res shape (the seeds' grid).
    mode
        ``"local_maxima"``: :func:`local_maxima` of ``low_res`` mapped to high-res pixel
        centres (:func:`map_points`); ``"local_maxima_midrange"``: the same, filtered by
        :func:`midrange_maxima`; ``"top_n"``: :func:`top_n_points` of ``low_res_resized``.
    top_n
        Number of points in ``"top_n"`` mode.

    Returns
    -------
    tuple
        ``(points, points_low_res)``: ``(N, 2)`` ``(row, col)`` seeds on the high-res grid,
        and the maxima on the low-res grid (``None`` in ``"top_n"`` mode).
    """
    if mode == "top_n":
        return top_n_points(low_res_resized, top_n), None
    if mode not in ("local_maxima", "local_maxima_midrange"):
        raise ValueError(f"unknown focal-point mode {mode!r}")
    points_low = local_maxima(low_res)
    if mode == "local_maxima_midrange":
        points_low = midrange_maxima(low_res, points_low)
    shape = np.shape(low_res_resized)
    return map_points(points_low, np.shape(low_res), shape), points_low


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
    """``numpy.percentile(values, q)`` (linear interpolation) from exact order statistics.

    Same value as numpy's default method up to rounding in the last bit; cheaper because it
    skips numpy's generic machinery and, on large arrays, partitions only the values near the
    wanted rank (see :func:`_order_stats`), which matters at 50k pixels per call.
    """
    return _percentiles(values, (q,))[0]


def _percentiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """:func:`percentile_of` for several ``qs`` from one selection."""
    flat = np.asarray(values).ravel()
    n = flat.size
    if n == 0:
        raise ValueError("values is empty: no percentile to take")
    plan = []
    for q in qs:
        pos = (n - 1) * float(q) / 100.0
        lo = math.floor(pos)
        plan.append((pos, lo, min(lo + 1, n - 1)))
    ranks = sorted({rank for _, lo, hi in plan for rank in (lo, hi)})
    stat = dict(zip(ranks, _order_stats(flat, ranks), strict=True))
    out = []
    for pos, lo, hi in plan:
        a = stat[lo]
        b = stat[hi] if hi != lo else a
        out.append(a + (b - a) * (pos - lo))
    return out


#: Arrays at least this large get their order statistics from a bracketed candidate set.
_BRACKET_MIN_SIZE = 16384
#: Values in the strided sample that brackets the wanted ranks.
_BRACKET_SAMPLE = 2048


def _order_stats(flat: np.ndarray, ranks: Sequence[int]) -> list[float]:
    """Compute the exact ``numpy.sort(flat)[k]`` for each ``k`` in ``ranks`` (sorted, finite data).

    An order statistic is a value, not a position, so every exact method gives the same number.
    On a large array whose wanted ranks lie close together, a strided sample brackets them:
    with ``t_lo <= t_hi`` taken from the sample, ``below`` values are ``< t_lo`` and ``cand``
    holds every value in ``[t_lo, t_hi]``, so for ``below <= k < below + cand.size`` the
    ``k``-th smallest of ``flat`` is the ``(k - below)``-th smallest of ``cand``. That is a few
    cheap passes plus a partition of a few thousand values instead of 50k. When the sample
    misjudged the bracket (checked, never assumed) the whole array is partitioned.
    """
    n = flat.size
    lo_rank, hi_rank = ranks[0], ranks[-1]
    if n >= _BRACKET_MIN_SIZE and (hi_rank - lo_rank) * 8 < n:
        sample = flat[:: n // _BRACKET_SAMPLE]
        m = sample.size
        p = lo_rank / n
        # ~4 standard deviations of a sample rank, plus slack for the sample's regularity
        margin = int(4.0 * math.sqrt(m * p * (1.0 - p))) + 8
        i_lo = lo_rank * m // n - margin
        i_hi = hi_rank * m // n + 1 + margin
        picks = [i for i in (i_lo, i_hi) if 0 < i < m - 1]
        sample = np.partition(sample, picks) if picks else sample
        inside = None
        below = 0
        if 0 < i_lo < m - 1:
            t_lo = sample[i_lo]
            below = int(np.count_nonzero(flat < t_lo))
            inside = flat >= t_lo
        if 0 < i_hi < m - 1:
            t_hi = sample[i_hi]
            inside = flat <= t_hi if inside is None else np.logical_and(inside, flat <= t_hi)
        cand = flat if inside is None else flat[inside]
        if below <= lo_rank and hi_rank < below + cand.size:
            part = np.partition(cand, [k - below for k in ranks])
            return [float(part[k - below]) for k in ranks]
    part = np.partition(flat, list(ranks))
    return [float(part[k]) for k in ranks]


def box_blur(x: np.ndarray, size: int = 5) -> np.ndarray:
    """Mean over a ``size``×``size`` window (``scipy.ndimage.uniform_filter``, mode "reflect").

    "reflect" is the boundary rule of ``scipy.ndimage.convolve``, which the reference code used.

    The result is always scipy's, bit for bit. scipy filters axis 0 then axis 1, each pass a
    running sum in ``float64`` divided by ``size`` and stored as ``float32``. When every
    partial sum is exact in ``float64`` (:func:`_sums_are_exact`), any summation order gives
    that same sum, so OpenCV's box filter computes each pass, faster; otherwise scipy runs.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or size < 2 or min(x.shape) < size or not _sums_are_exact(x, size):
        return ndi.uniform_filter(x, size=size, mode="reflect")
    # OpenCV's vertical box filter on float64 is its fast one: run the second (axis 1) pass
    # on the transpose. One float64 buffer serves both passes (it stays in cache).
    buf = x.astype(np.float64)
    first = _window_mean(buf, size)  # axis 0
    buf = buf.reshape(x.shape[::-1])
    np.copyto(buf, cv2.transpose(first))
    return cv2.transpose(_window_mean(buf, size))


def _window_mean(buf: np.ndarray, size: int) -> np.ndarray:
    """One pass of :func:`box_blur` along axis 0 of a ``float64`` map (overwritten).

    Exact window sums, divided in ``float64`` and rounded to ``float32`` as scipy stores its
    double line buffer.
    """
    # BORDER_REFLECT repeats the edge pixel, like scipy's "reflect"; the default anchor (the
    # centre, size // 2) is scipy's origin 0. OpenCV sizes are (width, height).
    cv2.boxFilter(buf, -1, (1, size), dst=buf, normalize=False, borderType=cv2.BORDER_REFLECT)
    return np.divide(buf, float(size), out=np.empty(buf.shape, dtype=np.float32))


def _sums_are_exact(x: np.ndarray, size: int) -> bool:
    """Whether both passes of :func:`box_blur` on ``x`` sum exactly in ``float64``.

    With ``0 <= x <= 1`` every partial sum of a running window (at most ``size + 1`` terms,
    added or subtracted) lies below ``2**b``, ``b = ceil(log2(size + 1))``. A nonzero
    ``float32`` of at least ``2**-e`` is a multiple of ``2**(-e - 23)``, and every multiple of
    ``2**(b - 53)`` below ``2**b`` is a ``float64``: so the sums are exact when no nonzero
    value is below ``2**(b - 30)``. The first pass's outputs are means of such values, so they
    are at least ``1 / size`` times smaller, and the bound is tightened by that factor to cover
    the second pass too: ``2**-24`` for the 5×5 blur, which normalised CAMs meet unless they
    hold values within ~1e-7 of zero.
    """
    # written so that NaN fails too: scipy's running sum smears a NaN along the rest of its
    # line, OpenCV's sums do not
    if not float(x.max()) <= 1.0:
        return False
    tiny = 2.0 ** (math.ceil(math.log2(size + 1)) + math.ceil(math.log2(size)) - 30)
    # every value below `tiny` must be a zero; negative values (and -inf) fail here as well
    return int(np.count_nonzero(x < tiny)) == int(np.count_nonzero(x == 0))


def sobel_magnitude(x: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude, normalised to [0, 1].

    ``sqrt(sobel_rows**2 + sobel_cols**2)`` where ``sobel_*`` equal ``scipy.ndimage.sobel`` on a
    ``float32`` map (mode "reflect"; checked in the tests); after the normalisation this equals
    ``skimage.filters.sobel`` followed by min-max scaling, which is what the reference code
    grows on. A flat map gives all zeros.

    The separable filter is written with array slices: scipy's generic ``correlate1d`` loop is
    ~3x slower on a 224×224 map. Like scipy, each 1-D pass is rounded to ``float32`` (the
    derivative first, then the [1, 2, 1] smoothing), so the numbers match. scipy computes the
    derivative in ``float64``; a ``float32`` subtraction gives the same number, because
    rounding a difference of two ``float32`` values to ``float64`` first and then to ``float32``
    is the same as rounding it once (53 >= 2 * 24 + 2 bits; Figueroa 1995).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"sobel_magnitude needs a 2-D map, got shape {x.shape}")
    g_rows, g_cols = _sobel_derivatives(x)
    # sqrt of squares, not np.hypot: ~10x faster here, and inputs in [0, 1] cannot overflow
    grad = np.multiply(g_rows, g_rows, out=g_rows)
    g_cols *= g_cols
    grad += g_cols
    np.sqrt(grad, out=grad)
    # float32 in place: this runs on every call and the values are small and finite
    lo, hi = float(grad.min()), float(grad.max())
    if hi <= lo:
        return np.zeros(grad.shape, dtype=np.float32)
    grad -= lo
    grad *= np.float32(1.0 / (hi - lo))
    return np.clip(grad, 0.0, 1.0, out=grad)


def _sobel_derivatives(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.ndimage.sobel(x, axis=0)`` and ``(x, axis=1)`` of a ``float32`` map, bit for bit.

    Each is a ``[-1, 0, 1]`` difference, rounded to ``float32``, then a ``[1, 2, 1]``
    smoothing, ``(d[i-1] + d[i+1]) + 2 d[i]`` in ``float64`` rounded once, as scipy computes
    them. Both run on the flattened, one-pixel padded map, where every neighbour along a row is
    a fixed offset away: whole contiguous blocks instead of row-by-row strided slices (about a
    third faster). The two junk values per row that this computes across the row ends are
    dropped at the end.
    """
    rows, cols = x.shape
    width = cols + 2
    # "reflect" in scipy.ndimage is OpenCV's BORDER_REFLECT (the edge pixel is repeated)
    p = cv2.copyMakeBorder(x, 1, 1, 1, 1, cv2.BORDER_REFLECT)
    flat = p.ravel()
    # Two float64 buffers serve both derivatives (they stay in cache); a float32 subtraction
    # written into float64 is exact, and doubling in place is exact too.
    # (every element read below is written first)
    d = np.empty(flat.size, dtype=np.float64)
    s = np.empty(flat.size, dtype=np.float64)
    # derivative along axis 0 (rows r+1 and r-1), smoothed along axis 1 (offsets 0, 1, 2)
    n = rows * width
    np.subtract(flat[2 * width :], flat[:n], out=d[:n], dtype=np.float32)
    np.add(d[: n - 2], d[2:n], out=s[: n - 2])
    d[:n] *= 2.0
    s[: n - 2] += d[1 : n - 1]
    g_rows = s[:n].reshape(rows, width)[:, :cols].astype(np.float32)
    # derivative along axis 1 (offsets 2 and 0), smoothed along axis 0 (whole padded rows)
    np.subtract(flat[2:], flat[:-2], out=d[:-2], dtype=np.float32)
    d[-2:] = 0.0
    np.add(d[:n], d[2 * width :], out=s[:n])
    d *= 2.0
    s[:n] += d[width : width + n]
    return g_rows, s[:n].reshape(rows, width)[:, :cols].astype(np.float32)


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


#: Up to this many unfilled components, :func:`_fill_small_background` compares labels.
_FEW_LABELS = 4


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
    if mode not in ("blend", "multiply"):
        raise ValueError(f"mode must be 'blend' or 'multiply', got {mode!r}")
    region = np.asarray(region)
    low_res = np.asarray(low_res, dtype=np.float32)
    if region.dtype == bool and mode == "blend":
        # Same float32 numbers as alpha * region + (1 - alpha) * low_res: alpha * 0 adds an
        # exact zero, and float32 addition is commutative. Saves two full-map temporaries.
        out = np.multiply(low_res, np.float32(1.0 - alpha))
        np.add(out, np.float32(alpha), out=out, where=region)
    elif mode == "blend":
        region = region.astype(np.float32, copy=False)
        out = alpha * region + (1.0 - alpha) * low_res
    else:
        out = region.astype(np.float32, copy=False) * low_res
    out = out.astype(np.float32, copy=False)
    return np.clip(out, 0.0, 1.0, out=out)


def growth_failure(
    low_res: np.ndarray,
    high_res: np.ndarray,
    points: np.ndarray,
    grown: np.ndarray,
    roi: np.ndarray,
    min_ratio: float,
    max_ratio: float,
) -> tuple[float, str | None]:
    """Judge the grown region: its size relative to the ROI, and why growing cannot be trusted.

    Parameters
    ----------
    low_res, high_res
        The normalised maps (a flat map normalises to all zeros).
    points
        The seeds.
    grown, roi
        Boolean masks of the grown region and of the (non-empty) ROI.
    min_ratio, max_ratio
        Growing "fails" (paper §5) when ``grown.sum() / roi.sum()`` is outside these.

    Returns
    -------
    tuple
        ``(ratio, reason)``: ``reason`` is ``None`` when growing succeeded, else one of
        ``"flat_low_res"``, ``"flat_high_res"``, ``"no_focal_points"``, ``"too_small"``,
        ``"too_large"`` (the first that applies, in that order).
    """
    ratio = float(np.count_nonzero(grown)) / float(np.count_nonzero(roi))
    if not np.asarray(low_res).any():
        return ratio, "flat_low_res"
    if not np.asarray(high_res).any():
        return ratio, "flat_high_res"
    if len(points) == 0:
        return ratio, "no_focal_points"
    if ratio < min_ratio:
        return ratio, "too_small"
    if ratio > max_ratio:
        return ratio, "too_large"
    return ratio, None


def refined_map(
    region: np.ndarray,
    low_res: np.ndarray,
    use_low_res: bool,
    mode: str = "blend",
    alpha: float = 0.5,
    keep_percent: float | None = None,
) -> np.ndarray:
    """Make the refined CAM: :func:`merge_maps` of region and low-res map, or the low-res map.

    Parameters
    ----------
    region
        The filled region.
    low_res
        The resized low-res CAM in [0, 1].
    use_low_res
        Return (a copy of) ``low_res`` instead of the merge: the fallback when growing failed.
    mode, alpha
        See :func:`merge_maps`.
    keep_percent
        When given, zero everything outside :func:`keep_top_percent` of the result.

    Returns
    -------
    numpy.ndarray
        ``float32`` map in [0, 1].
    """
    if use_low_res:
        refined = np.array(low_res, dtype=np.float32)
    else:
        refined = merge_maps(region, low_res, mode, alpha)
    if keep_percent is not None:
        keep = keep_top_percent(refined, keep_percent)
        refined = np.where(keep, refined, np.float32(0.0)).astype(np.float32)
    return refined


def keep_top_percent(x: np.ndarray, percent: float) -> np.ndarray:
    """Mask of the brightest ``percent`` % of pixels (ties at the cut are all kept).

    Used to mask the input image by the refined CAM (the paper's Fig. 4, right).
    """
    x = np.asarray(x)
    if percent <= 0:
        return np.zeros(x.shape, dtype=bool)
    return x >= percentile_of(x, 100.0 - percent)
