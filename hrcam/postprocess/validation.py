"""Input checks for :func:`hrcam.postprocess.refine`.

Every problem becomes a ``ValueError`` that names the argument and says what to do, so that no
raw numpy or SimpleITK traceback reaches the user. What is accepted, and how:

- numpy arrays, anything ``numpy.asarray`` takes, and torch tensors (detached, moved to CPU);
- integer and boolean dtypes (cast to float: ``True`` → 1.0);
- exactly 2-D maps; a ``(1, H, W)`` or ``(H, W, 1)`` batch/channel axis must be squeezed first;
- the low-res map may be smaller than or as large as the high-res map, not larger, and the two
  must have about the same aspect ratio (per-axis scale factors within 25 % of each other);
- NaN or ±inf anywhere is rejected (there is no safe value to replace them with).
"""

from __future__ import annotations

import numpy as np

#: Largest allowed ratio between the row and column scale factors (high-res / low-res).
MAX_ASPECT_MISMATCH = 1.25


def as_map(x: object, name: str) -> np.ndarray:
    """Return ``x`` as a finite 2-D float array, or raise ``ValueError`` naming ``name``.

    ``float32`` stays ``float32`` and every other dtype becomes ``float64``; both are exact for
    :func:`hrcam.postprocess.steps.normalize`, which computes in ``float64``. A numpy input
    already of the returned dtype is returned as is, not copied: callers must not modify it.
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
    if arr.dtype != np.float32:
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
            "replace them (e.g. numpy.nan_to_num) before refining"
        )
    return arr


def check_pair(low: np.ndarray, high: np.ndarray) -> None:
    """Check that a low-res and a high-res map fit together (see module docstring)."""
    (h, w), (rows, cols) = low.shape, high.shape
    if h > rows or w > cols:
        raise ValueError(
            f"low_res_cam {low.shape} is larger than high_res_cam {high.shape}; "
            "pass the coarse CAM first and the full-resolution CAM second"
        )
    s_rows, s_cols = rows / h, cols / w
    if max(s_rows, s_cols) / min(s_rows, s_cols) > MAX_ASPECT_MISMATCH:
        raise ValueError(
            f"low_res_cam {low.shape} and high_res_cam {high.shape} have different aspect "
            f"ratios (scale factors {s_rows:.3g} vs {s_cols:.3g}); they must come from the "
            "same image"
        )
