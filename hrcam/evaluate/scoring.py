"""Per-image scores of one map, and their per-method summaries with bootstrap CIs.

Every map is scored against the image's ground-truth mask and box with :mod:`hrcam.metrics`
on one threshold grid. :func:`summary_rows` turns the per-image records into one row per
(method, metric): ``n``, mean and percentile-bootstrap 95% CI; :func:`section5_rows` measures
the paper's §5 claim against the low-res CAM on the same images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hrcam.evaluate.statistics import (
    bootstrap_curve_max,
    bootstrap_max_box_acc,
    bootstrap_mean_ci,
)
from hrcam.methods.registry import method_label

__all__ = [
    "DATASET_METRICS",
    "LOWER_IS_BETTER",
    "METRIC_LABELS",
    "SCALAR_METRICS",
    "SECTION5_METRICS",
    "TABLE_METRICS",
    "image_scores",
    "mask_scores",
    "section5_rows",
    "summary_rows",
]

SCALAR_METRICS: dict[str, str] = {
    "pointing": "Pointing game",
    "energy_pointing": "Energy pointing game",
    "pxap": "PxAP",
    "mask_iou_oracle": "Mask IoU (per-image best t)",
    "average_drop": "Average drop % (lower better)",
    "increase_in_confidence": "Increase in confidence %",
    "deletion_auc": "Deletion AUC (lower better)",
    "insertion_auc": "Insertion AUC",
    "road_combined": "ROAD combined",
    "runtime_ms": "Runtime ms/image",
}
DATASET_METRICS: dict[str, str] = {
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
SECTION5_METRICS: tuple[str, ...] = ("pointing", "energy_pointing", "pxap", "mask_iou_oracle")


def mask_scores(
    cam: np.ndarray, mask: np.ndarray, grid: np.ndarray
) -> tuple[dict[str, float], np.ndarray]:
    """Pointing, energy pointing, PxAP and per-image best mask IoU of one map.

    Returns
    -------
    (scores, iou_curve)
        The four scores by name, and the map's mask IoU at every threshold of ``grid``.
    """
    from hrcam import metrics

    iou = metrics.iou_curve(cam, mask, grid)
    counts = metrics.pixel_counts(cam, mask, grid)
    scores = {
        "pointing": metrics.pointing_game(cam, mask),
        "energy_pointing": metrics.energy_pointing_game(cam, mask),
        "pxap": metrics.average_precision_from_counts(counts.tp, counts.fp, counts.num_pos),
        "mask_iou_oracle": float(iou.max()),
    }
    return scores, iou


def image_scores(
    cam: np.ndarray, mask: np.ndarray, box: np.ndarray, grid: np.ndarray
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """:func:`mask_scores` plus the map's box IoU curve over ``grid`` (for MaxBoxAccV2)."""
    from hrcam import metrics

    scores, iou = mask_scores(cam, mask, grid)
    return scores, iou, metrics.box_iou_curve(cam, box, grid)


def summary_rows(
    records: list[dict[str, Any]],
    curves: Mapping[str, Mapping[str, np.ndarray]],
    methods: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    metrics: Sequence[str] = TABLE_METRICS,
) -> list[dict[str, Any]]:
    """Per method and metric: ``n``, mean and bootstrap 95% CI (see module docstring).

    ``metrics`` (a subset of :data:`TABLE_METRICS`, in its order) leaves the others out, and
    their bootstraps unrun; the fallback rate comes with any refined method's records.
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

        for metric in TABLE_METRICS:
            if metric not in metrics:
                continue
            if metric in SCALAR_METRICS:
                vals = np.array([r[metric] for r in recs], dtype=np.float64)
                vals = vals[~np.isnan(vals)]
                if vals.size:
                    add(metric, int(vals.size), bootstrap_mean_ci(vals, n_boot, seed),
                        METRIC_LABELS[metric])  # fmt: skip
            elif metric == "mask_iou":
                c = curves[m]["mask_iou"]
                add(metric, int(c.shape[0]), bootstrap_curve_max(c, n_boot, seed),
                    METRIC_LABELS[metric])  # fmt: skip
            elif metric == "max_box_acc_v2":
                c = curves[m]["box_iou"]
                add(metric, int(c.shape[0]),
                    bootstrap_max_box_acc(c, IOU_THRESHOLDS, n_boot, seed),
                    METRIC_LABELS[metric])  # fmt: skip
        if recs and "fallback" in recs[0]:
            vals = np.array([float(r["fallback"]) for r in recs])
            add("fallback_rate", int(vals.size), bootstrap_mean_ci(vals, n_boot, seed),
                "Fallback to low-res CAM")  # fmt: skip
    return rows


def section5_rows(
    records: list[dict[str, Any]],
    methods: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    miss_below: float = 0.5,
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
                mean, lo, hi = bootstrap_mean_ci(ours - base, n_boot, seed)
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
