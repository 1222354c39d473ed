"""Filters: min-max normalisation, bilinear resizing, the box blur and the Sobel magnitude."""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np
from scipy import ndimage as ndi

from hrcam.core.maps import normalize_map

__all__ = [
    "box_blur",
    "normalize",
    "resize_bilinear",
    "sobel_magnitude",
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
