"""Plots of an :class:`hrcam.evaluate.EvaluationResult`: metric bars with CIs, win/fail examples.

Both functions return a matplotlib ``Figure`` and never call ``plt.show()``, so notebooks can
``glue`` them and scripts can ``savefig`` them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hrcam.evaluate import LOWER_IS_BETTER, METRIC_LABELS
from hrcam.methods.registry import method_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hrcam.evaluate import EvaluationResult

__all__ = [
    "LOCALIZATION_METRICS",
    "metric_bars",
    "win_fail_examples",
]


LOCALIZATION_METRICS: tuple[str, ...] = (
    "pointing",
    "energy_pointing",
    "pxap",
    "mask_iou",
    "max_box_acc_v2",
)


def metric_bars(
    result: EvaluationResult,
    metrics: Sequence[str] = LOCALIZATION_METRICS,
    title: str = "",
) -> Figure:
    """Draw grouped bars, one group per metric and one bar per method, with 95% CI whiskers.

    Parameters
    ----------
    result
        Output of :func:`hrcam.evaluate.evaluate`.
    metrics
        Metric keys (rows of ``result.table``); all must lie in [0, 1] for a shared axis.
    title
        Figure title.
    """
    import matplotlib.pyplot as plt

    rows = {(r["method"], r["metric"]): r for r in result.table}
    metrics = [m for m in metrics if any((meth, m) in rows for meth in result.methods)]
    if not metrics:
        raise ValueError("none of the requested metrics is in the result's table")
    fig, ax = plt.subplots(figsize=(max(6.0, 1.9 * len(metrics)), 3.8))
    width = 0.8 / len(result.methods)
    x = np.arange(len(metrics))
    # Past ten methods the default cycle would repeat colours: use 20 distinct ones.
    palette = plt.get_cmap("tab10" if len(result.methods) <= 10 else "tab20").colors
    for i, method in enumerate(result.methods):
        found = [rows.get((method, m)) for m in metrics]
        mean = np.array([r["mean"] if r else np.nan for r in found])
        low = np.array([r["mean"] - r["ci_low"] if r else 0.0 for r in found])
        high = np.array([r["ci_high"] - r["mean"] if r else 0.0 for r in found])
        ax.bar(x + (i + 0.5) * width - 0.4, mean, width, yerr=[low, high], capsize=2,
               label=method_label(method), color=palette[i % len(palette)])  # fmt: skip
    names = [METRIC_LABELS.get(m, m) + (" ↓" if m in LOWER_IS_BETTER else "") for m in metrics]
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean, 95% CI")
    ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def win_fail_examples(
    result: EvaluationResult,
    metric: str = "energy_pointing",
    methods: Sequence[str] | None = None,
    count: int = 2,
) -> Figure:
    """Per method, the ``count`` kept images it scores best on (wins) and worst on (fails).

    Each panel shows the image, the method's map over it and the object's outline, titled
    with the score. Only images kept in ``result.examples`` are candidates.

    Parameters
    ----------
    result
        Output of :func:`hrcam.evaluate.evaluate` (with ``keep_examples > 0``).
    metric
        Per-image metric to rank by (a key of the ``per_image`` records).
    methods
        Methods to show (default: all evaluated).
    count
        Wins and fails per method.
    """
    import matplotlib.pyplot as plt

    ex = result.examples
    if len(ex.get("index", [])) == 0:
        raise ValueError("the result kept no example images (evaluate(..., keep_examples=N))")
    methods = list(methods or result.methods)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    position = {int(i): k for k, i in enumerate(ex["index"])}
    higher_better = metric not in LOWER_IS_BETTER
    fig, axes = plt.subplots(
        len(methods), 2 * count, figsize=(2.2 * 2 * count, 2.3 * len(methods)), squeeze=False
    )
    for row, method in zip(axes, methods, strict=True):
        recs = [
            r for r in result.per_image
            if r["method"] == method and r["index"] in position and not np.isnan(r[metric])
        ]  # fmt: skip
        if not recs:
            raise ValueError(f"no kept images with {metric!r} for method {method!r}")
        recs.sort(key=lambda r: r[metric], reverse=higher_better)
        picks = [("win", r) for r in recs[:count]] + [("fail", r) for r in recs[::-1][:count]]
        for ax, (kind, rec) in zip(row, picks, strict=False):
            k = position[rec["index"]]
            ax.imshow(ex["image"][k])
            ax.imshow(ex["maps"][method][k].astype(np.float32), cmap="jet", alpha=0.45,
                      vmin=0, vmax=1)  # fmt: skip
            ax.contour(ex["mask"][k], levels=[0.5], colors="white", linewidths=1.0)
            ax.set_title(f"{kind} #{rec['index']}: {rec[metric]:.2f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in row[len(picks) :]:
            ax.axis("off")
        row[0].set_ylabel(method_label(method), fontsize=8)
    fig.suptitle(f"Wins and fails by {METRIC_LABELS.get(metric, metric)}", fontsize=10)
    fig.tight_layout()
    return fig
