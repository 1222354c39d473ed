"""Saliency maps and the class indices they explain: one rule each for every caller.

* :func:`normalize_map` and :func:`normalize_batch` -- min-max normalising (a flat map
  becomes all zeros);
* :func:`as_map` -- a 2-D map checked and converted, with errors that name the argument;
* :func:`check_class_indices` -- class indices within ``[0, num_classes)``
  (:class:`ClassIndexError` otherwise).

One place for each rule, so that two copies cannot drift apart. Importing it costs numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "ClassIndexError",
    "as_map",
    "check_class_indices",
    "normalize_batch",
    "normalize_map",
]


def normalize_map(x: Any, dtype: type | np.dtype = np.float32) -> np.ndarray:
    """Min-max normalise a map to [0, 1]: ``(x - min) / (max - min)``.

    Parameters
    ----------
    x
        Finite array of any real dtype (usually 2-D).
    dtype
        dtype of the result; the arithmetic is float64 either way.

    Returns
    -------
    numpy.ndarray
        ``x`` rescaled to [0, 1]. A constant map has no contrast to keep, so it becomes all
        zeros.
    """
    # float64 for the arithmetic so that huge finite inputs (e.g. 1e38) cannot overflow. A
    # float32 map is read as it is (each float32 is exact in float64, and the subtraction
    # below converts on the fly): the same numbers without a float64 copy.
    x = np.asarray(x)
    if x.dtype != np.float32:
        x = x.astype(np.float64, copy=False)
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo
    if not np.isfinite(span) or span <= 0.0:
        if span > 0.0:  # hi - lo overflowed (float64 only): rescale first
            return normalize_map(x / max(abs(lo), abs(hi)), dtype)
        return np.zeros(x.shape, dtype=dtype)
    out = np.subtract(x, lo, dtype=np.float64)
    out /= span
    # No clip needed: rounding is monotonic, so lo <= x <= hi gives 0 <= (x - lo) / span <= 1.
    return out.astype(dtype, copy=False)


def normalize_batch(maps: Any) -> np.ndarray:
    """Min-max normalise each map of a ``(B, H, W)`` stack to [0, 1] (flat maps -> 0).

    The rule of :func:`normalize_map`, one map at a time, in float32 arithmetic (a batch of
    image-sized maps is what the evaluation scores, so no float64 copy is made).
    """
    maps = np.asarray(maps, dtype=np.float32)
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    return np.divide(maps - lo, span, out=np.zeros_like(maps), where=span > 0)


def as_map(x: object, name: str = "cam", dtype: type | np.dtype | None = None) -> np.ndarray:
    """Return ``x`` as a finite 2-D float array, or raise ``ValueError`` naming ``name``.

    Parameters
    ----------
    x
        numpy array, anything ``numpy.asarray`` takes, or a torch tensor (detached, moved to
        the CPU); integer and boolean dtypes are read as floats (``True`` -> 1.0).
    name
        The argument's name, for the error messages.
    dtype
        dtype of the result. ``None``: ``float32`` stays ``float32`` and every other dtype
        becomes ``float64`` (both exact for :func:`normalize_map`, which computes in float64).

    Returns
    -------
    numpy.ndarray
        A numpy input already of the returned dtype is returned as is, not copied: callers
        must not modify it.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists etc.
        raise ValueError(f"{name} could not be read as an array: {exc}") from exc
    # dtype kinds: numpy's numbers and booleans (timedelta counts as an integer there), checked
    # by kind because np.issubdtype is slow next to the rest of a refine call
    if arr.dtype.kind not in "biufmc":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = " (squeeze the batch/channel axis first)" if arr.ndim == 3 else ""
        raise ValueError(f"{name} must be a 2-D map, got shape {arr.shape}{hint}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype != np.float32:
        arr = arr.astype(np.float64, copy=False)
    # A sum is NaN or infinite if any value is: one pass instead of an isfinite mask. It can
    # also overflow on huge finite values; the counts below then find nothing to reject.
    with np.errstate(over="ignore", invalid="ignore"):
        suspect = not np.isfinite(arr.sum())
    n_nan = int(np.isnan(arr).sum()) if suspect else 0
    n_inf = int(np.isinf(arr).sum()) if suspect else 0
    if n_nan or n_inf:
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite value(s); "
            "replace them (e.g. numpy.nan_to_num) first"
        )
    return arr


def check_class_indices(indices: Any, num_classes: int, name: str = "classes") -> None:
    """Raise ``ValueError`` unless every class index lies in ``[0, num_classes)``.

    Parameters
    ----------
    indices
        A sequence of ints, a numpy array or a torch tensor (on any device: only its minimum
        and maximum are read back).
    num_classes
        Number of classes of the model or dataset.
    name
        The argument's name, for the error message.
    """
    if not hasattr(indices, "min"):
        indices = np.asarray(indices)
    if not len(indices):
        return
    if int(indices.min()) < 0 or int(indices.max()) >= num_classes:
        bad = sorted({int(v) for v in indices.tolist()} - set(range(num_classes)))
        shown = str(bad) if len(bad) <= 8 else f"[{', '.join(map(str, bad[:8]))}, ...] ({len(bad)})"
        raise ClassIndexError(
            f"{name} must lie in [0, {num_classes}), got {shown}",
            num_classes,
        )


class ClassIndexError(ValueError):
    """A class index outside the model's classes; ``num_classes`` says how many it has."""

    def __init__(self, message: str, num_classes: int) -> None:
        super().__init__(message)
        self.num_classes = num_classes
