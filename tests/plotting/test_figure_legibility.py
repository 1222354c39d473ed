"""The book's comparison figures stay legible at the width the page shows them.

Text must show at :data:`hrcam.plotting.comparison.MIN_LABEL_PT` or more once the page scales
the figure to :data:`~hrcam.plotting.comparison.BOOK_COLUMN_PX`, and legends sit outside
the data.
"""

from __future__ import annotations

import numpy as np
import pytest

from hrcam import plotting
from hrcam.plotting.comparison import BOOK_COLUMN_PX, MIN_LABEL_PT, readable_pt


def _draw(fig):
    """Lay the figure out with Agg (a bare ``Figure`` has no renderer); return the renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _shown_pt(fig, text) -> float:
    """The size (pt) a text of ``fig`` shows at when the page scales the figure to the column."""
    width_px = fig.get_figwidth() * fig.dpi
    scale = min(1.0, BOOK_COLUMN_PX / width_px)
    return text.get_fontsize() * fig.dpi / 96.0 * scale


def test_readable_pt_grows_with_the_shrink():
    assert readable_pt(BOOK_COLUMN_PX, 96) == pytest.approx(MIN_LABEL_PT)
    assert readable_pt(2 * BOOK_COLUMN_PX, 96) == pytest.approx(2 * MIN_LABEL_PT)
    assert readable_pt(100, 96) == pytest.approx(MIN_LABEL_PT)  # never shown larger


def test_example_grid_labels_are_legible_and_above_their_row():
    # Four 224 px cut-outs and six rows: the chapters' example grids (Figures 10.3, 11.1).
    n, h, rows = 4, 224, ["a", "b", "c", "d", "e"]
    images = np.zeros((n, h, h, 3), np.uint8)
    masks = np.zeros((n, h, h), bool)
    maps = {k: np.random.default_rng(0).random((n, h, h)) for k in rows}
    fig = plotting.example_grid(images, masks, maps, {k: f"refined, paper: {k}" for k in rows})
    assert fig.get_figwidth() * fig.dpi > BOOK_COLUMN_PX  # the page shrinks this one
    renderer = _draw(fig)
    labels = [t for t in fig.texts if t.get_text()]
    assert len(labels) == 1 + len(rows)
    boxes = [ax.get_window_extent() for ax in fig.get_axes()]
    for text in labels:
        assert _shown_pt(fig, text) >= MIN_LABEL_PT - 1e-6, text.get_text()
        box = text.get_window_extent(renderer)
        assert not any(box.overlaps(b) for b in boxes), f"{text.get_text()} covers a panel"
    for box in boxes:  # still one figure pixel per map pixel
        assert box.width >= h - 1 and box.height >= h - 1


class _Comparison:
    """What ``cost_figure`` reads of a comparison: methods, labels and value(m, metric, key)."""

    def __init__(self, methods):
        self.methods = list(methods)
        self.labels = {m: f"Method {m}" for m in methods}

    def value(self, method, metric, key="mean"):
        k = self.methods.index(method)
        if metric == "runtime_ms":
            return 10.0 ** (k % 4)
        return {"mean": 0.6, "ci_low": 0.55, "ci_high": 0.65}[key] + 0.01 * k


def test_cost_figure_legend_is_outside_the_data_and_legible():
    comp = _Comparison([f"m{k}" for k in range(16)])
    fig = plotting.cost_figure(comp, "pxap", title="16 images")
    renderer = _draw(fig)
    (ax,) = fig.get_axes()
    (legend,) = fig.legends
    assert len(legend.get_texts()) == 16
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    texts = [*legend.get_texts(), ax.xaxis.label, ax.yaxis.label, ax.title]
    texts += ax.get_xticklabels() + ax.get_yticklabels()
    for text in texts:
        assert _shown_pt(fig, text) >= MIN_LABEL_PT - 1e-6, text.get_text()
    # Hollow markers: a method drawn over another leaves the one beneath visible.
    points = [line for line in ax.get_lines() if line.get_marker() in tuple("osD^v<>pPX*h")]
    assert len(points) == 16 and {p.get_markerfacecolor() for p in points} == {"none"}
