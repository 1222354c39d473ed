"""The sanity-check figure (Figure 12.2): readable labels, a legend that hides no curve."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image

from hrcam.methods import method_label
from hrcam.plotting.sanity import randomization_figure

# The book's text column: a wider image is shown scaled down to it.
DISPLAY_PX = 650
MIN_PT = 9.0
METHODS = [
    "low_res_cam", "high_res_cam", "refined_paper", "refined_reference", "gradcam",
    "gradcam++", "layercam", "cam_crf", "cam_guided", "cam_jbu", "featup_jbu",
]  # fmt: skip


@pytest.fixture(scope="module")
def figure():
    rng = np.random.default_rng(0)
    steps = ["FC", "block 5", "block 2", "stem"]
    curves = {
        k: {m: [[v, v - 0.1, v + 0.1] for v in np.sort(rng.random(4))[::-1]] for m in METHODS}
        for k in ("spearman", "ssim")
    }
    null = {m: 0.3 + 0.3 * rng.random() for m in METHODS}
    labels = {m: method_label(m) for m in METHODS}
    fig = randomization_figure(curves, steps, labels, {"spearman": "S", "ssim": "SSIM"}, null)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")  # as the notebook's glue saves it
    return fig, Image.open(buf).size, null


def test_every_label_is_at_least_9_pt_on_the_page(figure):
    fig, (width, _), _ = figure
    shown = min(1.0, DISPLAY_PX / width)  # the page scales a wider image down
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert len(texts) > 20  # titles, ticks, axis labels and the legend's 11 entries
    # A point on the page is 4/3 CSS px; the image has dpi/72 px per point of font size.
    for text in texts:
        page_pt = text.get_fontsize() * fig.dpi / 72 * shown * 0.75
        assert page_pt >= MIN_PT, (text.get_text(), page_pt)


def test_the_legend_sits_outside_every_panel_and_names_every_method(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig, _, _ = figure
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer))
    assert [t.get_text() for t in legend.get_texts()] == [method_label(m) for m in METHODS]
    # Eleven lines, no two alike: colours repeat after ten, the style does not.
    lines = fig.axes[0].get_lines()
    styles = {(ln.get_color(), ln.get_marker(), ln.get_linestyle()) for ln in lines[:22]}
    assert len({s for s in styles if s[1] != "_"}) == len(METHODS)


def test_the_null_is_drawn_right_of_the_spearman_curves(figure):
    fig, _, null = figure
    ax = fig.axes[0]
    bars = [ln for ln in ax.get_lines() if ln.get_marker() == "_"]
    assert sorted(float(b.get_ydata()[0]) for b in bars) == pytest.approx(sorted(null.values()))
    assert {float(b.get_xdata()[0]) for b in bars} == {5.0}  # after none + 4 steps
    assert ax.get_xticklabels()[-1].get_text() == "null 95 %"
    assert not [ln for ln in fig.axes[1].get_lines() if ln.get_marker() == "_"]
