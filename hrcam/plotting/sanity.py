"""The sanity-check figure of Adebayo et al. (2018): similarity against randomized blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BOOK_WIDTH_IN", "randomization_figure"]

#: Width (inches at 100 dpi) that the book shows a figure at without scaling it down: its text
#: column is about 650 px wide, so every label's size on the page is its size here.
BOOK_WIDTH_IN = 6.5

# 10 pt at 100 dpi is 13.9 px, above 9 pt (12 px) on the page even if shown at 90 %.
_FONT = 10
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "*", "h")


def randomization_figure(
    curves: Mapping[str, Mapping[str, Sequence[Sequence[float]]]],
    steps: Sequence[str],
    labels: Mapping[str, str],
    titles: Mapping[str, str] | None = None,
    null: Mapping[str, float] | None = None,
) -> Figure:
    """One panel per similarity measure, one line per method, with 95 % CI bands.

    The legend sits below the panels, outside every curve; the figure is
    :data:`BOOK_WIDTH_IN` wide, so its labels (10 pt) are read at that size in the book.

    Parameters
    ----------
    curves
        ``{measure: {method: [[mean, lo, hi] per step]}}``; step 0 is the trained model
        (similarity 1), step ``s`` has the blocks down to ``steps[s - 1]`` randomized.
    steps
        Label of the block randomized last at each recorded step (``len(steps)`` steps after
        step 0).
    labels
        Line label by method.
    titles
        Panel title by measure.
    null
        Each method's null threshold (the 95th percentile of the Spearman correlation between
        its maps of different images), drawn as a bar in the method's colour right of the
        curves in the ``"spearman"`` panel.
    """
    import numpy as np
    from matplotlib.figure import Figure

    measures = list(curves)
    # Figure, not pyplot: the notebook glues it; pyplot would also display it under the cell.
    fig = Figure(figsize=(BOOK_WIDTH_IN, 4.6), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(measures), squeeze=False, sharey=True)
    x = np.arange(len(steps) + 1)
    handles = []
    for ax, measure in zip(axes[0], measures, strict=True):
        with_null = bool(null) and measure == "spearman"
        for i, (method, rows) in enumerate(curves[measure].items()):
            arr = np.vstack([[1.0, 1.0, 1.0], np.asarray(rows, float)])
            # Colours repeat after 10 lines: the marker and, past 10, a dashed line tell them apart.
            dash = "--" if i >= 10 else "-"
            style = {"marker": _MARKERS[i % len(_MARKERS)], "ms": 4, "lw": 1.2, "ls": dash}
            (line,) = ax.plot(x, arr[:, 0], label=labels.get(method, method), **style)
            ax.fill_between(x, arr[:, 1], arr[:, 2], color=line.get_color(), alpha=0.12)
            if with_null and method in null and np.isfinite(null[method]):
                ax.plot([x[-1] + 1], [null[method]], marker="_", ms=14, mew=2.5,
                        color=line.get_color())  # fmt: skip
            if ax is axes[0][0]:
                handles.append(line)
        ticks = ["none", *steps] + (["null 95 %"] if with_null else [])
        ax.set_xticks(np.arange(len(ticks)), ticks, rotation=60, ha="right", fontsize=_FONT)
        ax.tick_params(axis="y", labelsize=_FONT)
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_title((titles or {}).get(measure, measure), fontsize=_FONT + 1)
        ax.set_xlabel("randomized down to (top first)", fontsize=_FONT)
    axes[0][0].set_ylabel("similarity to the trained model's map", fontsize=_FONT)
    # Below the panels, outside every axes: it can hide no curve.
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=_FONT, frameon=False)
    return fig
