"""The sanity-check figure of Adebayo et al. (2018): similarity against randomized blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["randomization_figure"]


def randomization_figure(
    curves: Mapping[str, Mapping[str, Sequence[Sequence[float]]]],
    steps: Sequence[str],
    labels: Mapping[str, str],
    titles: Mapping[str, str] | None = None,
) -> Figure:
    """One panel per similarity measure, one line per method, with 95 % CI bands.

    Parameters
    ----------
    curves
        ``{measure: {method: [[mean, lo, hi] per step]}}``; step 0 is the trained model
        (similarity 1), step ``s`` has the top ``s`` blocks randomized.
    steps
        Label of the block randomized at each step (``len(steps)`` steps after step 0).
    labels
        Line label by method.
    titles
        Panel title by measure.
    """
    import numpy as np
    from matplotlib.figure import Figure

    measures = list(curves)
    # Figure, not pyplot: the notebook glues it; pyplot would also display it under the cell.
    fig = Figure(figsize=(4.2 * len(measures), 3.8))
    axes = fig.subplots(1, len(measures), squeeze=False)
    x = np.arange(len(steps) + 1)
    for ax, measure in zip(axes[0], measures, strict=True):
        for method, rows in curves[measure].items():
            arr = np.vstack([[1.0, 1.0, 1.0], np.asarray(rows, float)])
            (line,) = ax.plot(x, arr[:, 0], marker="o", ms=3, label=labels.get(method, method))
            ax.fill_between(x, arr[:, 1], arr[:, 2], color=line.get_color(), alpha=0.15)
        ax.set_xticks(x, ["none", *steps], rotation=60, ha="right", fontsize=8)
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_xlabel("randomized down to (cumulative, top first)")
        ax.set_title((titles or {}).get(measure, measure))
    axes[0][0].set_ylabel("similarity to the trained model's map")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
