"""Seeds and ROI: the focal points of the low-res CAM and the region of interest around them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "focal_points",
    "local_maxima",
    "map_points",
    "midrange_maxima",
    "percentile_of",
    "roi_mask",
    "top_n_points",
]


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
