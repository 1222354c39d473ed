"""Merging: the grown region blended into the maps, the §5 failure test and the refined map."""

from __future__ import annotations

import numpy as np

from hrcam.postprocess.steps.seeds import percentile_of

__all__ = [
    "growth_failure",
    "keep_top_percent",
    "merge_maps",
    "refined_map",
]


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
