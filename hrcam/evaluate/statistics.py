"""Percentile-bootstrap confidence intervals over images.

Means are resampled with multinomial counts (one draw of ``n_boot`` resamples, seeded), so
every statistic of one call sees the same resamples. Metrics that choose a threshold over the
whole data set (mask IoU at the best shared threshold, MaxBoxAccV2) choose it again inside
every resample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CI_METHOD",
    "MIN_VERDICT_UNITS",
    "TOO_FEW_TO_JUDGE",
    "can_judge",
    "bootstrap_curve_max",
    "bootstrap_max_box_acc",
    "bootstrap_mean_ci",
    "ci_method",
    "paired_mean_ci",
]


def ci_method(n_boot: int) -> str:
    """Describe the confidence intervals of ``n_boot`` resamples, as reports state them."""
    return f"95% CI: percentile bootstrap over images ({int(n_boot)} resamples)"


CI_METHOD = ci_method(1000)
"""The description at the default 1000 resamples."""

MIN_VERDICT_UNITS = 10
"""Fewest independent units (images, photos, stamps) a verdict may rest on.

At n = 3 a 95% percentile-bootstrap interval excludes a true zero difference about a quarter
of the time (16% at n = 5, 10% at n = 10), so below this the book prints numbers only.
"""

TOO_FEW_TO_JUDGE = "too few to judge"
"""What a page prints in place of a verdict from fewer than :data:`MIN_VERDICT_UNITS`."""


def can_judge(n_units: int) -> bool:
    """Whether ``n_units`` independent units may carry a better/worse, pass/fail or ranking."""
    return int(n_units) >= MIN_VERDICT_UNITS


def _bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resample counts: mean over a resample = weights @ values / n."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of ``values``.

    Returns
    -------
    (mean, low, high) : tuple of float
        ``nan`` for all three when ``values`` is empty; ``low == high == mean`` for one value.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return (float("nan"),) * 3
    stats = _bootstrap_weights(v.size, n_boot, seed) @ v / v.size
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(v.mean()), float(low), float(high)


def paired_mean_ci(
    a: Mapping[Any, float], b: Mapping[Any, float], n_boot: int = 1000, seed: int = 0
) -> tuple[int, float, float, float]:
    """Mean per-image difference ``a - b`` over the images both score, with its bootstrap CI.

    Parameters
    ----------
    a, b
        ``{image index: score}`` of two methods.
    n_boot, seed
        As for :func:`bootstrap_mean_ci`.

    Returns
    -------
    (n, mean, low, high) : tuple
        ``n`` images in common (0 gives ``nan`` for the other three).
    """
    common = sorted(set(a) & set(b))
    diff = np.array([a[i] - b[i] for i in common], np.float64)
    return (len(common), *bootstrap_mean_ci(diff, n_boot, seed))


def bootstrap_curve_max(
    curves: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """Max over thresholds of the mean curve, with a bootstrap CI (threshold re-chosen)."""
    n = curves.shape[0]
    if n == 0:
        return (float("nan"),) * 3
    stats = (_bootstrap_weights(n, n_boot, seed) @ curves / n).max(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(curves.mean(axis=0).max()), float(low), float(high)


def bootstrap_max_box_acc(
    box_curves: np.ndarray, levels: Sequence[float], n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """MaxBoxAccV2 with a bootstrap CI: per resample, best threshold per IoU level, then mean."""
    n = box_curves.shape[0]
    if n == 0:
        return (float("nan"),) * 3
    weights = _bootstrap_weights(n, n_boot, seed)
    point, boots = [], []
    for d in levels:
        hits = (box_curves >= d).astype(np.float64)  # (N, T)
        point.append(hits.mean(axis=0).max())
        boots.append((weights @ hits / n).max(axis=1))
    stats = np.mean(boots, axis=0)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(np.mean(point)), float(low), float(high)
