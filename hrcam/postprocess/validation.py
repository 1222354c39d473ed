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

from hrcam.core.maps import as_map  # noqa: F401  (one validator; refine and parallel import it here)

#: Largest allowed ratio between the row and column scale factors (high-res / low-res).
MAX_ASPECT_MISMATCH = 1.25


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
