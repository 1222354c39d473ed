"""Figures of the evidence chapter: paired differences, sweeps, failure kinds, training curves.

Every function returns a matplotlib ``Figure`` (never calls ``plt.show()``), so notebooks can
``glue`` them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.studies.refine import FAILURE_KINDS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hrcam.studies.refine import StudyResult


__all__ = [
    "failure_examples",
    "kind_counts",
    "localization_over_epochs",
    "not_measured",
    "oracle_sweep",
    "paired_differences",
    "study_bars",
    "variant_differences",
]


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def paired_differences(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[str] | None = None,
    title: str = "",
    xlabel: str = "PxAP: method minus low-res CAM (same images)",
    fallback: Sequence[float] | None = None,
) -> Figure:
    """Horizontal dot-and-whisker plot of paired differences with their 95 % CIs.

    Parameters
    ----------
    rows
        Paired rows (``difference``, ``ci_low``, ``ci_high``), e.g. from
        :attr:`hrcam.studies.StudyResult.paired`.
    labels
        One label per row (default: each row's ``label``).
    title, xlabel
        Titles.
    fallback
        Optional fallback rate per row, drawn as a second panel.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("no rows to plot")
    names = list(labels) if labels is not None else [str(r.get("label", "")) for r in rows]
    ncols = 2 if fallback is not None else 1
    fig, axes = _figure(9.0 if ncols == 2 else 7.0, 0.9 + 0.38 * len(rows), ncols=ncols)
    ax = axes[0, 0]
    y = np.arange(len(rows))[::-1]
    d = np.array([r["difference"] for r in rows], float)
    lo = np.array([r["ci_low"] for r in rows], float)
    hi = np.array([r["ci_high"] for r in rows], float)
    colors = [
        "tab:green" if a > 0 else "tab:red" if b < 0 else "tab:gray"
        for a, b in zip(lo, hi, strict=True)
    ]
    ax.hlines(y, lo, hi, colors=colors, lw=2)
    ax.scatter(d, y, c=colors, zorder=3)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    if fallback is not None:
        ax2 = axes[0, 1]
        ax2.barh(y, list(fallback), color="tab:orange")
        ax2.set_xlim(0, 1)
        ax2.set_yticks(y, [""] * len(rows))
        ax2.set_xlabel("fallback rate (refined = low-res)", fontsize=8)
    return fig


def study_bars(
    study: StudyResult,
    methods: Sequence[str],
    metric: str = "pxap",
    labels: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """Bars of one metric (mean and 95 % CI) for the given methods of a study."""
    fig, axes = _figure(max(5.0, 0.75 * len(methods) + 2), 3.6)
    ax = axes[0, 0]
    mean = np.array([study.value(m, metric) for m in methods])
    lo = mean - np.array([study.value(m, metric, "ci_low") for m in methods])
    hi = np.array([study.value(m, metric, "ci_high") for m in methods]) - mean
    x = np.arange(len(methods))
    ax.bar(x, mean, yerr=[lo, hi], capsize=3, color="tab:blue")
    base = study.value("low_res_cam", metric)
    ax.axhline(base, color="k", ls="--", lw=1, label="low-res CAM")
    ax.set_xticks(x, list(labels) if labels is not None else list(methods), fontsize=7, rotation=30,
                  ha="right")  # fmt: skip
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"{metric} (mean, 95% CI)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def oracle_sweep(points: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Refined PxAP (and fallback rate) as the oracle's noise share grows.

    Parameters
    ----------
    points
        Rows with ``noise``, ``config``, ``pxap``, ``ci_low``, ``ci_high``, ``fallback`` and
        ``low_res`` (the low-res CAM's PxAP on the same images).
    """
    fig, axes = _figure(9.0, 3.4, ncols=2)
    configs = list(dict.fromkeys(p["config"] for p in points))
    for c in configs:
        pts = sorted((p for p in points if p["config"] == c), key=lambda p: p["noise"])
        x = [p["noise"] for p in pts]
        axes[0, 0].errorbar(
            x, [p["pxap"] for p in pts],
            yerr=[[p["pxap"] - p["ci_low"] for p in pts], [p["ci_high"] - p["pxap"] for p in pts]],
            marker="o", capsize=3, label=f"refined, {c}",
        )  # fmt: skip
        axes[0, 1].plot(x, [p["fallback"] for p in pts], marker="o", label=c)
    axes[0, 0].axhline(points[0]["low_res"], color="k", ls="--", lw=1, label="low-res CAM")
    axes[0, 0].set_xlabel("oracle noise share")
    axes[0, 0].set_ylabel("PxAP (mean, 95% CI)")
    axes[0, 0].legend(fontsize=8)
    axes[0, 1].set_xlabel("oracle noise share")
    axes[0, 1].set_ylabel("fallback rate")
    axes[0, 1].set_ylim(-0.02, 1.02)
    axes[0, 1].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def kind_counts(counts: Mapping[str, Mapping[str, int]], title: str = "") -> Figure:
    """Stacked horizontal bars: images per failure kind, one bar per method."""
    fig, axes = _figure(8.0, 0.9 + 0.55 * len(counts))
    ax = axes[0, 0]
    names = list(counts)
    left = np.zeros(len(names))
    cmap = {
        "fallback: too small": "tab:orange",
        "fallback: too large": "tab:brown",
        "fallback: other": "tab:gray",
        "ROI off the object": "tab:purple",
        "refined loses": "tab:red",
        "refined wins": "tab:green",
    }
    for kind in FAILURE_KINDS:
        vals = np.array([counts[n].get(kind, 0) for n in names], float)
        ax.barh(names, vals, left=left, label=kind, color=cmap[kind])
        left += vals
    ax.set_xlabel("images")
    ax.legend(fontsize=7, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    if title:
        ax.set_title(title, fontsize=9, pad=40)
    return fig


def failure_examples(examples: Sequence[Mapping[str, Any]]) -> Figure:
    """Draw one row per failure kind: image, low-res CAM, grown region and refined CAM.

    The image shows the object outline, the low-res CAM the ROI.

    Parameters
    ----------
    examples
        Dicts with ``kind``, ``image`` (H, W, 3) uint8, ``mask``, ``result`` (a
        :class:`~hrcam.postprocess.RefineResult`) and ``record`` (its per-image record).
    """
    if not examples:
        raise ValueError("no examples to plot")
    fig, axes = _figure(10.0, 2.5 * len(examples), ncols=4, nrows=len(examples))
    for row, ex in zip(axes, examples, strict=True):
        res, rec, mask = ex["result"], ex["record"], ex["mask"]
        row[0].imshow(ex["image"])
        row[0].contour(mask, levels=[0.5], colors="w", linewidths=0.8)
        row[0].set_title(ex["kind"], fontsize=9)
        row[1].imshow(res.low_res_resized, cmap="jet", vmin=0, vmax=1)
        row[1].contour(res.roi, levels=[0.5], colors="w", linewidths=0.8)
        row[1].set_title(f"low-res + ROI (IoU {rec['roi_iou']:.2f})", fontsize=8)
        row[2].imshow(res.grown, cmap="gray")
        row[2].contour(mask, levels=[0.5], colors="r", linewidths=0.6)
        if len(res.focal_points):
            row[2].scatter(res.focal_points[:, 1], res.focal_points[:, 0], s=8, c="yellow")
        row[2].set_title(f"grown (IoU {rec['grown_iou']:.2f}, x{rec['region_ratio']:.2f} ROI)",
                         fontsize=8)  # fmt: skip
        row[3].imshow(res.refined, cmap="jet", vmin=0, vmax=1)
        row[3].set_title(f"refined AP {rec['image_ap']:.2f} vs {rec['low_res_image_ap']:.2f}",
                         fontsize=8)  # fmt: skip
        for ax in row:
            ax.set_axis_off()
    return fig


def localization_rows(history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Return the rows of ``metrics.json`` that hold localization scores (``loc_*``).

    Training writes them every ``eval_every`` epochs and after the last one; other rows have
    none, and an evaluation that could not score the maps leaves them NaN.
    """
    return [r for r in history if r.get("loc_low_res_pxap") is not None
            and np.isfinite(float(r["loc_low_res_pxap"]))]  # fmt: skip


def localization_over_epochs(history: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """PxAP and best-threshold mask IoU of the four maps per epoch, and the fallback rates.

    Parameters
    ----------
    history
        Rows of ``metrics.json`` with the ``loc_*`` columns of ``--eval-every``.
    """
    from hrcam.evaluate.localization import LOCALIZATION_MAPS

    rows = localization_rows(history)
    if not rows:
        raise ValueError("no epoch with localization columns (train with eval_every > 0)")
    fig, axes = _figure(11.0, 3.3, ncols=3)
    epochs = [r["epoch"] for r in rows]
    for name in LOCALIZATION_MAPS:
        for ax, metric in zip(axes[0, :2], ("pxap", "mask_iou"), strict=True):
            ax.plot(epochs, [r[f"loc_{name}_{metric}"] for r in rows], marker="o", label=name)
    for name in ("refined_paper", "refined_reference"):
        axes[0, 2].plot(epochs, [r[f"loc_{name}_fallback"] for r in rows], marker="o", label=name)
    for ax, ylabel in zip(axes[0], ("PxAP", "mask IoU (best shared t)", "fallback rate"),
                          strict=True):  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def variant_differences(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Refined minus low-res PxAP per data variant and preset (paired 95 % CIs)."""
    labels = [f"{r['variant']}: {r['config']}" for r in rows]
    return paired_differences(rows, labels, title=title,
                              fallback=[r["fallback"] for r in rows])  # fmt: skip


def not_measured(text: str) -> Figure:
    """Draw a small figure that says what was not measured and why (keeps glued pages building)."""
    fig, axes = _figure(6.0, 1.2)
    axes[0, 0].text(0.5, 0.5, text, ha="center", va="center", fontsize=10, wrap=True)
    axes[0, 0].set_axis_off()
    return fig
