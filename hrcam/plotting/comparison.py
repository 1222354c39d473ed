"""Figures of the "Beyond the paper" page (:mod:`hrcam.studies.comparison`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.evaluate import METRIC_LABELS
from hrcam.plotting.evidence import localization_rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hrcam.studies.comparison import Comparison

__all__ = ["cost_figure", "epochs_figure", "example_grid"]


def cost_figure(comp: Comparison, metric: str = "pxap", title: str = "") -> Figure:
    """Localization against runtime per image: one marker per method, with its 95% CI.

    The methods are told apart by colour and marker in a legend beside the axes (many of
    them sit close together, where text labels would overlap); the consistency network's
    maps are drawn with a red edge.

    Parameters
    ----------
    comp
        The combined table.
    metric
        Localization metric on the vertical axis.
    title
        Figure title.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.5, 4.8), layout="constrained")
    ax = fig.subplots()
    colors = colormaps["tab20"].colors
    markers = "osD^v<>pPX*h"
    for k, m in enumerate(comp.methods):
        try:
            y, lo, hi = (comp.value(m, metric, key) for key in ("mean", "ci_low", "ci_high"))
            ms = comp.value(m, "runtime_ms")
        except KeyError:
            continue
        ours = m.startswith("consistency_")
        ax.errorbar(ms, y, yerr=[[y - lo], [hi - y]], fmt=markers[k % len(markers)],
                    color=colors[k % len(colors)], markersize=8 if ours else 6,
                    markeredgecolor="red" if ours else "none", markeredgewidth=1.5,
                    capsize=2, label=comp.labels[m])  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("runtime per image, ms (log scale; measured in this run)")
    ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} (mean, 95% CI)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def epochs_figure(
    paper: Sequence[Mapping[str, Any]], consistency: Sequence[Mapping[str, Any]], weight: float
) -> Figure:
    """Plot the PxAP of the high-res and both refined CAMs per epoch, and val PSNR.

    The paper network against the consistency network (the ``loc_*`` columns of both
    ``metrics.json``).
    """
    from matplotlib.figure import Figure

    # The maps whose loc_* columns training logs.
    from hrcam.evaluate.localization import LOCALIZATION_MAPS

    fig = Figure(figsize=(10.0, 3.3), layout="constrained")
    axes = fig.subplots(1, 2)
    for history, style, name in ((paper, "-", "W=0 (paper)"),
                                 (consistency, "--", f"W={weight:g}")):  # fmt: skip
        rows = localization_rows(history)
        epochs = [r["epoch"] for r in rows]
        for k, m in enumerate(LOCALIZATION_MAPS):
            axes[0].plot(epochs, [r[f"loc_{m}_pxap"] for r in rows], style, marker="o",
                         color=f"C{k}", label=f"{m}, {name}")  # fmt: skip
        axes[1].plot([r["epoch"] for r in history], [r["val_psnr"] for r in history], style,
                     marker="o", color="k", label=name)  # fmt: skip
    epochs = sorted({int(r["epoch"]) for r in [*paper, *consistency]})
    for ax in axes:
        ax.set_xticks(epochs)
    axes[0].set_ylabel("PxAP (first validation images)")
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("validation PSNR, dB (reconstruction)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=6.5)
    return fig


def example_grid(
    images: np.ndarray,
    masks: np.ndarray,
    maps: Mapping[str, np.ndarray],
    labels: Mapping[str, str],
    dpi: int = 100,
    zoom: int = 1,
) -> Figure:
    """Draw one row per method, one column per image: each map at the image's own resolution.

    Each panel also shows the object's outline.

    The panels are placed by hand, in whole pixels, so that each map pixel is exactly
    ``zoom`` x ``zoom`` figure pixels at ``dpi`` (an automatic layout shrinks the panels of a
    tall grid below the map's resolution).

    Parameters
    ----------
    images
        ``(B, H, W, 3)`` uint8.
    masks
        ``(B, H, W)`` object masks.
    maps
        ``{method: (B, H, W)}`` in [0, 1].
    labels
        Row titles by method.
    dpi
        Figure resolution.
    zoom
        Figure pixels per map pixel (an integer, so no map pixel is blurred or dropped).
    """
    from matplotlib.figure import Figure

    n, h, w = images.shape[:3]
    if n < 1 or not maps:
        raise ValueError("example_grid needs at least one image and one method")
    if not (isinstance(zoom, int) and zoom >= 1):
        raise ValueError(f"zoom must be an integer >= 1, got {zoom!r}")
    rows = ["image", *maps]
    ph, pw, gap, label_w = h * zoom, w * zoom, 4, 210
    width, height = label_w + n * (pw + gap), len(rows) * (ph + gap) + gap
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    for r, key in enumerate(rows):
        bottom = height - (r + 1) * (ph + gap)
        for c in range(n):
            ax = fig.add_axes((
                (label_w + c * (pw + gap)) / width, bottom / height, pw / width, ph / height
            ))  # fmt: skip
            if key == "image":
                ax.imshow(images[c], interpolation="nearest")
            else:
                ax.imshow(np.asarray(maps[key][c], np.float32), cmap="jet", vmin=0, vmax=1,
                          interpolation="nearest")  # fmt: skip
                ax.contour(masks[c], levels=[0.5], colors="white", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(labels.get(key, key), fontsize=7, rotation=0, ha="right",
                              va="center")  # fmt: skip
    return fig
