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

__all__ = ["BOOK_COLUMN_PX", "MIN_LABEL_PT", "cost_figure", "epochs_figure", "example_grid",
           "readable_pt"]  # fmt: skip

# Width (CSS px) at which the book shows a figure wider than its text column: measured in
# headless Chromium on a built page, a 1400 px wide image in a 1280 px wide window (790 px in a
# window of 1440 px or more). Figures are sized so that their text stays legible at this width.
BOOK_COLUMN_PX = 676
# Smallest text size (pt, as displayed) of a label or legend in the book's figures.
MIN_LABEL_PT = 9.0


def readable_pt(
    width_px: float, dpi: float, column_px: float = BOOK_COLUMN_PX, min_pt: float = MIN_LABEL_PT
) -> float:
    """Font size (pt, in the figure) that shows at ``min_pt`` once the page scales the figure.

    A figure ``width_px`` wide is shown at ``min(1, column_px / width_px)`` of its size; a
    CSS pixel is 1/96 inch, a figure pixel 1/``dpi`` inch of text size.

    Parameters
    ----------
    width_px
        The figure's width in pixels (inches times ``dpi``).
    dpi
        The figure's resolution.
    column_px
        The width the book shows it at, at most (:data:`BOOK_COLUMN_PX`).
    min_pt
        The smallest text size a reader should see (:data:`MIN_LABEL_PT`).
    """
    scale = min(1.0, column_px / float(width_px))
    return min_pt * 96.0 / (float(dpi) * scale)


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

    # As wide as the book's text column, so that the page shows it at full size and 9 pt
    # labels stay 9 pt; the legend goes below the axes, outside the data.
    # (32 px narrower: the notebook's tight bounding box adds a few pixels when it saves it).
    dpi, width = 100, BOOK_COLUMN_PX - 32
    fig = Figure(figsize=(width / dpi, 6.4), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    font = readable_pt(width, dpi)
    # Strong colours only (tab10, no pale tab20 halves) and hollow markers of different
    # shapes: two methods at the same place (Grad-CAM++ under LayerCAM) both stay visible.
    colors = colormaps["tab10"].colors
    markers = "osD^v<>pPX*h"
    for k, m in enumerate(comp.methods):
        try:
            y, lo, hi = (comp.value(m, metric, key) for key in ("mean", "ci_low", "ci_high"))
            ms = comp.value(m, "runtime_ms")
        except KeyError:
            continue
        ours = m.startswith("consistency_")
        color = colors[k % len(colors)]
        ax.errorbar(ms, y, yerr=[[y - lo], [hi - y]], fmt=markers[k % len(markers)],
                    color=color, markersize=9 if ours else 7, markerfacecolor="none",
                    markeredgecolor="red" if ours else color, markeredgewidth=1.6,
                    capsize=2, label=comp.labels[m])  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("runtime per image, ms (log scale; measured in this run)", fontsize=font)
    ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} (mean, 95% CI)", fontsize=font)
    ax.tick_params(labelsize=font)
    ax.set_ylim(0, 1.02)
    fig.legend(fontsize=font, loc="outside lower center", ncols=2, frameon=False)
    if title:
        ax.set_title(title, fontsize=font)
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
    tall grid below the map's resolution). Each row's label is written above the row, in a
    size that stays at least :data:`MIN_LABEL_PT` when the book shows the figure at
    :data:`BOOK_COLUMN_PX` (a label column beside the panels would widen the figure and so
    shrink everything on the page).

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
    ph, pw, gap = h * zoom, w * zoom, 4
    width = n * (pw + gap) - gap
    font = readable_pt(width, dpi)
    label_h = int(np.ceil(font * dpi / 72 * 1.5))  # one line of text and some air
    row_h = label_h + ph + gap
    height = len(rows) * row_h
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    for r, key in enumerate(rows):
        top = height - r * row_h
        fig.text(0, (top - label_h / 2) / height, labels.get(key, key), fontsize=font,
                 ha="left", va="center")  # fmt: skip
        bottom = top - label_h - ph
        for c in range(n):
            ax = fig.add_axes((c * (pw + gap) / width, bottom / height, pw / width, ph / height))
            if key == "image":
                ax.imshow(images[c], interpolation="nearest")
            else:
                ax.imshow(np.asarray(maps[key][c], np.float32), cmap="jet", vmin=0, vmax=1,
                          interpolation="nearest")  # fmt: skip
                ax.contour(masks[c], levels=[0.5], colors="white", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
    return fig
