"""Per-image scores of one map, and their per-method summaries with bootstrap CIs.

Every map is scored against the image's ground-truth mask and box with :mod:`hrcam.metrics`
on one threshold grid. :func:`summary_rows` turns the per-image records and curves into one
row per (method, metric): ``n``, value and percentile-bootstrap 95% CI; :func:`section5_rows`
measures the paper's §5 claim against the low-res CAM on the same images.

PxAP is the data-set statistic of Choe et al. (CVPR 2020): each image's true/false positive
pixel counts per threshold are kept (curves ``pixel_tp``, ``pixel_fp``, ``pixel_pos``) and
summed over the images, also inside every bootstrap resample. The mean of per-image APs is
kept under its own name, ``image_ap`` ("Mean per-image AP").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hrcam.methods.registry import method_label
from hrcam.metrics.statistics import (
    bootstrap_curve_max,
    bootstrap_max_box_acc,
    bootstrap_mean_ci,
    bootstrap_pxap,
)

__all__ = [
    "COUNT_CURVES",
    "DATASET_METRICS",
    "LOWER_IS_BETTER",
    "METRIC_LABELS",
    "SCALAR_METRICS",
    "SECTION5_METRICS",
    "TABLE_METRICS",
    "append_counts",
    "dataset_value",
    "image_scores",
    "mask_scores",
    "pack_curves",
    "paired_dataset_ci",
    "section5_rows",
    "summary_rows",
]

SCALAR_METRICS: dict[str, str] = {
    "pointing": "Pointing game",
    "energy_pointing": "Energy pointing game",
    "image_ap": "Mean per-image AP",
    "mask_iou_oracle": "Mask IoU (per-image best t)",
    "average_drop": "Average drop % (lower better)",
    "increase_in_confidence": "Increase in confidence %",
    "deletion_auc": "Deletion AUC (lower better)",
    "insertion_auc": "Insertion AUC",
    "road_combined": "ROAD combined",
    "runtime_ms": "Runtime ms/image",
}
DATASET_METRICS: dict[str, str] = {
    "pxap": "PxAP",
    "mask_iou": "Mask IoU (best shared t)",
    "max_box_acc_v2": "MaxBoxAccV2",
}
METRIC_LABELS: dict[str, str] = {**SCALAR_METRICS, **DATASET_METRICS}
LOWER_IS_BETTER: frozenset[str] = frozenset({"average_drop", "deletion_auc", "runtime_ms"})
# Table column order: localization first, then faithfulness, then cost.
TABLE_METRICS: tuple[str, ...] = (
    "pointing",
    "energy_pointing",
    "pxap",
    "mask_iou",
    "mask_iou_oracle",
    "max_box_acc_v2",
    "average_drop",
    "increase_in_confidence",
    "deletion_auc",
    "insertion_auc",
    "road_combined",
    "runtime_ms",
)
SECTION5_METRICS: tuple[str, ...] = ("pointing", "energy_pointing", "image_ap", "mask_iou_oracle")
"""Per-image metrics of the §5 subsets (a paired per-image difference on each subset)."""
COUNT_CURVES: tuple[str, ...] = ("pixel_tp", "pixel_fp")
"""Per-image pixel counts kept for PxAP, ``(N, T + 1)`` on :func:`hrcam.metrics.pxap_thresholds`."""


def mask_scores(
    cam: np.ndarray, mask: np.ndarray, grid: np.ndarray
) -> tuple[dict[str, float], np.ndarray, Any]:
    """Pointing, energy pointing, per-image AP and best mask IoU of one map, plus its counts.

    Returns
    -------
    (scores, iou_curve, counts)
        The four scores by name, the map's mask IoU at every threshold of ``grid``, and its
        :class:`~hrcam.metrics.PixelCounts` on the PxAP grid (``grid`` plus 1.0), which the
        data-set PxAP sums over images.
    """
    from hrcam import metrics

    counts = metrics.pixel_counts(cam, mask, metrics.pxap_thresholds(grid))
    t = grid.size
    union = counts.num_pos + counts.fp[:t]  # tp + fp + fn
    iou = np.divide(counts.tp[:t], union, out=np.zeros(t), where=union > 0)
    scores = {
        "pointing": metrics.pointing_game(cam, mask),
        "energy_pointing": metrics.energy_pointing_game(cam, mask),
        "image_ap": metrics.pxap_from_counts(counts.tp, counts.fp, counts.num_pos),
        "mask_iou_oracle": float(iou.max()),
    }
    return scores, iou, counts


def image_scores(
    cam: np.ndarray, mask: np.ndarray, box: np.ndarray, grid: np.ndarray
) -> tuple[dict[str, float], np.ndarray, np.ndarray, Any]:
    """:func:`mask_scores` plus the map's box IoU curve over ``grid`` (for MaxBoxAccV2).

    Returns
    -------
    (scores, iou_curve, box_iou_curve, counts)
    """
    from hrcam import metrics

    scores, iou, counts = mask_scores(cam, mask, grid)
    return scores, iou, metrics.box_iou_curve(cam, box, grid), counts


def append_counts(curves: dict[str, list], counts: Any) -> None:
    """Keep one image's pixel counts in a method's curve lists (for :func:`summary_rows`)."""
    curves.setdefault("pixel_tp", []).append(counts.tp)
    curves.setdefault("pixel_fp", []).append(counts.fp)
    curves.setdefault("pixel_pos", []).append(counts.num_pos)


def pack_curves(curves: Mapping[str, Sequence[Any]], size: int) -> dict[str, np.ndarray]:
    """Pack one method's curve lists as arrays.

    ``(N, size)`` threshold curves, ``(N, size + 1)`` pixel counts, ``(N,)`` object pixel
    counts and indices.
    """
    out = {}
    for key, values in curves.items():
        if key in ("mask_iou", "box_iou"):
            out[key] = np.array(values, np.float64).reshape(-1, size)
        elif key in COUNT_CURVES:
            # One row per image, as long as the PxAP grid (``size + 1``, or ``size`` when
            # the grid already ends at 1.0).
            arr = np.array(values, np.int64)
            out[key] = arr.reshape(len(values), -1) if len(values) else arr.reshape(0, size + 1)
        else:
            out[key] = np.array(values, np.int64)
    return out


def summary_rows(
    records: list[dict[str, Any]],
    curves: Mapping[str, Mapping[str, np.ndarray]],
    methods: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    metrics: Sequence[str] = TABLE_METRICS,
    units: Mapping[int, Any] | None = None,
) -> list[dict[str, Any]]:
    """Per method and metric: ``n``, value and bootstrap 95% CI (see module docstring).

    ``metrics`` (a subset of :data:`TABLE_METRICS`, in its order) leaves the others out, and
    their bootstraps unrun; the fallback rate comes with any refined method's records.
    ``units`` (``{image index: unit}``, e.g. the stamp of a cut-out) resamples units instead
    of images; the curves then need their ``index``.
    """
    from hrcam.metrics import IOU_THRESHOLDS

    rows: list[dict[str, Any]] = []
    for m in methods:
        recs = [r for r in records if r["method"] == m]

        def add(
            metric: str, n: int, stats: tuple[float, float, float], label: str, m: str = m
        ) -> None:
            rows.append(
                {
                    "method": m,
                    "label": method_label(m),
                    "metric": metric,
                    "metric_label": label,
                    "n": n,
                    "mean": stats[0],
                    "ci_low": stats[1],
                    "ci_high": stats[2],
                }
            )

        def labels_of(indices: Sequence[int]) -> list[Any] | None:
            return None if units is None else [units[int(i)] for i in indices]

        rec_units = labels_of([r["index"] for r in recs]) if units is not None else None
        c = curves.get(m, {})
        cur_units = labels_of(c["index"]) if units is not None and "index" in c else None
        if units is not None and c and "index" not in c:
            raise ValueError("summary_rows: curves need 'index' to resample units")
        extra = [x for x in metrics if x not in TABLE_METRICS]  # e.g. "image_ap"
        for metric in (*TABLE_METRICS, *extra):
            if metric not in metrics:
                continue
            if metric in SCALAR_METRICS:
                vals = np.array([r[metric] for r in recs], dtype=np.float64)
                keep = ~np.isnan(vals)
                if keep.any():
                    u = None if rec_units is None else np.asarray(rec_units, object)[keep]
                    add(metric, int(keep.sum()),
                        bootstrap_mean_ci(vals[keep], n_boot, seed, units=u),
                        METRIC_LABELS[metric])  # fmt: skip
            elif metric == "pxap" and "pixel_tp" in c:
                add(metric, int(c["pixel_tp"].shape[0]),
                    bootstrap_pxap(c["pixel_tp"], c["pixel_fp"], c["pixel_pos"], n_boot, seed,
                                   units=cur_units),
                    METRIC_LABELS[metric])  # fmt: skip
            elif metric == "mask_iou":
                add(metric, int(c["mask_iou"].shape[0]),
                    bootstrap_curve_max(c["mask_iou"], n_boot, seed, units=cur_units),
                    METRIC_LABELS[metric])  # fmt: skip
            elif metric == "max_box_acc_v2":
                add(metric, int(c["box_iou"].shape[0]),
                    bootstrap_max_box_acc(c["box_iou"], IOU_THRESHOLDS, n_boot, seed,
                                          units=cur_units),
                    METRIC_LABELS[metric])  # fmt: skip
        # A bool per image: refined maps (records read back from CSV hold NaN for the others).
        if recs and isinstance(recs[0].get("fallback"), (bool, np.bool_)):
            vals = np.array([float(r["fallback"]) for r in recs])
            add("fallback_rate", int(vals.size),
                bootstrap_mean_ci(vals, n_boot, seed, units=rec_units),
                "Fallback to low-res CAM")  # fmt: skip
    return rows


def section5_rows(
    records: list[dict[str, Any]],
    methods: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    miss_below: float = 0.5,
    units: Mapping[int, Any] | None = None,
) -> list[dict[str, Any]]:
    """Measure the paper's §5 claim: other methods vs the low-res CAM where it fails.

    Images are split by the low-res CAM's pointing-game score (``< miss_below``: "low-res
    miss", else "low-res hit"). For each other method and each metric of
    :data:`SECTION5_METRICS`, on the same images: both means, the mean paired difference
    (method minus low-res) and its percentile-bootstrap 95% CI. On the miss subset the
    refined CAM's pointing score is the share of failed low-res CAMs it rescues.

    Returns
    -------
    list of dict
        Empty when ``low_res_cam`` was not evaluated.
    """
    if "low_res_cam" not in methods:
        return []
    low = {r["index"]: r for r in records if r["method"] == "low_res_cam"}
    subsets = {
        "low-res miss": {i for i, r in low.items() if r["pointing"] < miss_below},
        "low-res hit": {i for i, r in low.items() if r["pointing"] >= miss_below},
    }
    rows = []
    for subset, members in subsets.items():
        for m in methods:
            if m == "low_res_cam":
                continue
            recs = {r["index"]: r for r in records if r["method"] == m and r["index"] in members}
            common = sorted(recs)
            for metric in SECTION5_METRICS:
                ours = np.array([recs[i][metric] for i in common], dtype=np.float64)
                base = np.array([low[i][metric] for i in common], dtype=np.float64)
                labels = None if units is None else [units[int(i)] for i in common]
                mean, lo, hi = bootstrap_mean_ci(ours - base, n_boot, seed, units=labels)
                rows.append(
                    {
                        "subset": subset,
                        "method": m,
                        "n": len(common),
                        "metric": metric,
                        "method_mean": float(ours.mean()) if common else float("nan"),
                        "low_res_mean": float(base.mean()) if common else float("nan"),
                        "difference": mean,
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
    return rows


def _aligned(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the indices both curve sets hold, and each one's rows for them (in order)."""
    ia, ib = np.asarray(a["index"]), np.asarray(b["index"])
    common = np.intersect1d(ia, ib)
    pos_a = {int(v): k for k, v in enumerate(ia)}
    pos_b = {int(v): k for k, v in enumerate(ib)}
    return (common, np.array([pos_a[int(i)] for i in common], np.int64),
            np.array([pos_b[int(i)] for i in common], np.int64))  # fmt: skip


def paired_dataset_ci(
    a: Mapping[str, np.ndarray],
    b: Mapping[str, np.ndarray],
    metric: str = "pxap",
    n_boot: int = 1000,
    seed: int = 0,
    units: Mapping[int, Any] | None = None,
) -> dict[str, Any]:
    """Subtract method ``b``'s data-set metric from method ``a``'s on the images both scored.

    Each bootstrap resample recomputes the metric for both methods from the same resampled
    images (or units): PxAP from the summed pixel counts, MaxBoxAccV2 and mask IoU with their
    shared threshold chosen again (Choe et al. 2020).

    Parameters
    ----------
    a, b
        One method's packed curves each (with ``index``; :func:`pack_curves`).
    metric
        ``"pxap"``, ``"max_box_acc_v2"`` or ``"mask_iou"``.
    units
        ``{image index: unit}`` to resample units (e.g. stamps) instead of images.

    Returns
    -------
    dict
        ``n``, ``method_mean``, ``other_mean``, ``difference``, ``ci_low``, ``ci_high``.
    """
    from hrcam.metrics import IOU_THRESHOLDS
    from hrcam.metrics.statistics import max_box_acc_stats, paired_stat_ci, pxap_stats

    common, ra, rb = _aligned(a, b)
    if metric == "pxap":
        keys = ("pixel_tp", "pixel_fp", "pixel_pos")
        stat = pxap_stats
    elif metric == "max_box_acc_v2":
        keys = ("box_iou",)

        def stat(curves: np.ndarray, w: np.ndarray | None) -> np.ndarray:
            return max_box_acc_stats(curves, IOU_THRESHOLDS, w)
    elif metric == "mask_iou":
        keys = ("mask_iou",)

        def stat(curves: np.ndarray, w: np.ndarray | None) -> np.ndarray:
            w = np.ones((1, curves.shape[0])) if w is None else w
            return ((w @ curves) / w.sum(axis=1)[:, None]).max(axis=1)
    else:
        raise ValueError(f"{metric!r} is not a data-set metric; choose pxap, max_box_acc_v2 "
                         "or mask_iou")  # fmt: skip
    xa = [np.asarray(a[k])[ra] for k in keys]
    xb = [np.asarray(b[k])[rb] for k in keys]
    labels = None if units is None else [units[int(i)] for i in common]
    diff, lo, hi = paired_stat_ci(stat, xa, xb, n_boot, seed, units=labels)
    mean_a = float(stat(*xa, None)[0]) if common.size else float("nan")
    mean_b = float(stat(*xb, None)[0]) if common.size else float("nan")
    return {"n": int(common.size), "method_mean": mean_a, "other_mean": mean_b,
            "difference": diff, "ci_low": lo, "ci_high": hi}  # fmt: skip


def dataset_value(curves: Mapping[str, np.ndarray], metric: str) -> float:
    """Compute a data-set metric (``pxap``, ``max_box_acc_v2``, ``mask_iou``) from curves."""
    from hrcam.metrics import IOU_THRESHOLDS
    from hrcam.metrics.statistics import max_box_acc_stats, pxap_stats

    if metric == "pxap":
        return float(pxap_stats(curves["pixel_tp"], curves["pixel_fp"], curves["pixel_pos"])[0])
    if metric == "max_box_acc_v2":
        return float(max_box_acc_stats(np.asarray(curves["box_iou"]), IOU_THRESHOLDS)[0])
    if metric == "mask_iou":
        return float(np.asarray(curves["mask_iou"]).mean(axis=0).max())
    raise ValueError(f"{metric!r} is not a data-set metric")
