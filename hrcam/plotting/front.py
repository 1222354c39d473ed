"""The cost–quality front: every method's localization against its runtime per image."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hrcam.evaluate.front import cost_quality_points, pareto_front

# The paper's maps, marked apart on the figure: the same four the cut-out chapter re-evaluates.
from hrcam.studies.cutouts import PAPER_MAPS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PAPER_MAPS", "front_figure"]


def front_figure(
    rows: Iterable[Mapping[str, Any]],
    labels: Mapping[str, str],
    quality: str = "pxap",
    cost: str = "runtime_ms",
    quality_label: str = "PxAP",
    paper_maps: Sequence[str] = PAPER_MAPS,
    title: str = "",
) -> Figure:
    """Plot each method's mean ``quality`` against its mean ``cost`` (log axis), with the front.

    The front (:func:`hrcam.evaluate.front.pareto_front`) is drawn as a staircase through
    its methods, each named beside its marker; the paper's maps are drawn as red-edged
    squares and named too; every other method is a grey dot, named in the legend's list
    below the axes.

    Parameters
    ----------
    rows
        Summary rows (``method``, ``metric``, ``mean``), e.g. an evaluation's ``table``.
    labels
        Display name per method key.
    quality, cost
        Metric keys of the vertical (higher better) and horizontal (lower better) axes.
    quality_label
        Name of ``quality`` on the axis.
    paper_maps
        Method keys marked as the paper's maps.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    rows = list(rows)
    points = cost_quality_points(rows, quality, cost)
    front = pareto_front(rows, quality, cost)
    fig = Figure(figsize=(9.0, 5.2), layout="constrained")
    ax = fig.subplots()
    if front:
        xs = [points[m][0] for m in front]
        ys = [points[m][1] for m in front]
        # A staircase: what the front's methods attain, at each cost, is flat until the next.
        ax.plot(xs, ys, drawstyle="steps-post", color="tab:blue", lw=1.5, zorder=1,
                label="cost–quality front")  # fmt: skip
    others = []
    for m, (c, q) in points.items():
        paper, on_front = m in paper_maps, m in front
        ax.scatter(c, q, s=60 if on_front or paper else 25, zorder=3,
                   marker="s" if paper else "o",
                   color="tab:blue" if on_front else "0.6",
                   edgecolors="red" if paper else "none", linewidths=1.5)  # fmt: skip
        if on_front or paper:
            ax.annotate(labels.get(m, m), (c, q), xytext=(5, 4), textcoords="offset points",
                        fontsize=7, color="tab:blue" if on_front else "darkred")  # fmt: skip
        else:
            others.append(labels.get(m, m))
    ax.scatter([], [], marker="s", color="0.6", edgecolors="red", label="the paper's maps")
    ax.set_xscale("log")
    ax.set_xlabel(f"{cost.replace('_ms', '')} per image, ms (log scale; measured in this run)")
    ax.set_ylabel(f"{quality_label} (mean)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    if others:
        fig.supxlabel("Not on the front: " + "; ".join(others), fontsize=7, wrap=True)
    if title:
        ax.set_title(title, fontsize=9)
    return fig
