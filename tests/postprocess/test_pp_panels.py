"""The step-by-step figure is built from ``STEP_PANELS``: one entry per post-processing step."""

import dataclasses

import numpy as np
import pytest

import hrcam.postprocess as pp
from hrcam import plotting
from hrcam.postprocess import STEP_PANELS, RefineResult, StepPanel, refine
from hrcam.postprocess.synthetic import synthetic_pair


def test_every_panel_names_a_result_attribute():
    fields = {f.name for f in dataclasses.fields(RefineResult)} | {"keep_mask"}
    assert [p.attribute for p in STEP_PANELS if p.attribute not in fields] == []
    assert {p.kind for p in STEP_PANELS} <= {"map", "mask"}
    assert len({p.title for p in STEP_PANELS}) == len(STEP_PANELS)


def _drawn(fig):
    return [(ax.get_title(), ax.images[0].get_array()) for ax in fig.axes if ax.images]


def test_figure_draws_the_image_then_each_panel_in_order():
    low, high, _ = synthetic_pair(2)
    res = refine(low, high)
    image = np.zeros((*high.shape, 3), dtype=np.uint8)
    drawn = _drawn(plotting.pipeline_steps(image, res, title="t"))
    assert [title for title, _ in drawn] == ["image"] + [p.title for p in STEP_PANELS]
    for (_, data), panel in zip(drawn[1:], STEP_PANELS, strict=True):
        np.testing.assert_array_equal(data, np.asarray(getattr(res, panel.attribute), float))


@pytest.mark.parametrize("extra", [1, 6])
def test_a_new_step_is_one_entry(monkeypatch, extra):
    low, high, _ = synthetic_pair(2)
    res = refine(low, high)
    panels = STEP_PANELS + tuple(StepPanel("edge_mask", f"new {i}", "mask") for i in range(extra))
    monkeypatch.setattr(pp, "STEP_PANELS", panels)
    fig = plotting.pipeline_steps(np.zeros((*high.shape, 3), np.uint8), res)
    assert [t for t, _ in _drawn(fig)][-extra:] == [f"new {i}" for i in range(extra)]
    assert len(fig.axes) == 5 * -(-(len(panels) + 1) // 5)  # rows of five, the rest blank
