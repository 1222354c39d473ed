"""The cost–quality front: the pure Pareto computation, the report's ranking and the figure."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from hrcam.evaluate.front import cost_quality_points, cost_ranking_lines, pareto_front


def _rows(points: dict[str, tuple[float, float]]) -> list[dict]:
    rows = []
    for method, (ms, pxap) in points.items():
        rows.append({"method": method, "metric": "runtime_ms", "mean": ms, "n": 4})
        rows.append({"method": method, "metric": "pxap", "mean": pxap, "n": 4})
        rows.append({"method": method, "metric": "max_box_acc_v2", "mean": 0.1, "n": 4})
    return rows


POINTS = {
    "low_res_cam": (10.0, 0.50),
    "cam_jbu": (12.0, 0.60),  # a little dearer, better: on the front
    "cam_bilateral": (300.0, 0.58),  # dearer and worse than cam_jbu: dominated
    "gradcam": (30.0, 0.60),  # as good as cam_jbu but dearer: dominated
    "refined_paper": (100.0, 0.70),  # the best, at a price: on the front
    "sess": (20_000.0, 0.65),
    "refined_reference": (120.0, 0.55),  # one of the paper's maps, off the front
}


def test_the_front_holds_exactly_the_undominated_methods_cheapest_first():
    assert pareto_front(_rows(POINTS)) == ["low_res_cam", "cam_jbu", "refined_paper"]
    # Another quality metric gives another front; a tie on both keeps both.
    tied = {**POINTS, "twin": POINTS["cam_jbu"]}
    assert pareto_front(_rows(tied)) == ["low_res_cam", "cam_jbu", "twin", "refined_paper"]
    assert pareto_front(_rows(POINTS), quality="max_box_acc_v2") == ["low_res_cam"]


def test_methods_without_both_means_are_left_out():
    rows = _rows(POINTS)
    rows.append({"method": "no_cost", "metric": "pxap", "mean": 0.99, "n": 4})
    rows.append({"method": "nan", "metric": "pxap", "mean": math.nan, "n": 0})
    rows.append({"method": "nan", "metric": "runtime_ms", "mean": 1.0, "n": 4})
    assert set(cost_quality_points(rows)) == set(POINTS)
    assert "no_cost" not in pareto_front(rows) and "nan" not in pareto_front(rows)
    assert pareto_front([]) == []


def test_the_report_ranks_every_method_by_cost_and_marks_the_front():
    from hrcam.evaluate.report import _cost_ranking

    labels = {m: m.upper() for m in POINTS}
    lines = cost_ranking_lines(_rows(POINTS), labels)
    body = lines[2:]
    assert [line.split(" | ")[0].lstrip("| ") for line in body] == [
        "LOW_RES_CAM", "CAM_JBU", "GRADCAM", "REFINED_PAPER", "REFINED_REFERENCE", "CAM_BILATERAL",
        "SESS",
    ]  # fmt: skip
    marked = [line.split(" | ")[0].lstrip("| ") for line in body if "| yes |" in line]
    assert marked == ["LOW_RES_CAM", "CAM_JBU", "REFINED_PAPER"]
    assert "| 1.2 |" in body[1]  # cam_jbu: 12 ms, 1.2x the cheapest
    result = SimpleNamespace(table=_rows(POINTS), methods=list(POINTS))
    section = _cost_ranking(result, section_headings=True)
    assert "## Ranking by cost" in section and len(section) == 5 + len(lines)
    assert _cost_ranking(SimpleNamespace(table=[], methods=[]), True) == []


def test_the_figure_draws_the_front_and_names_its_methods_and_the_papers(tmp_path):
    pytest.importorskip("matplotlib")
    from hrcam.plotting import front_figure

    labels = {m: f"label of {m}" for m in POINTS}
    fig = front_figure(_rows(POINTS), labels, title="four cut-outs")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    (line,) = ax.lines
    assert list(line.get_xdata()) == [10.0, 12.0, 100.0]  # through the front, cheapest first
    assert list(line.get_ydata()) == [0.50, 0.60, 0.70]
    named = {t.get_text() for t in ax.texts}
    front = {"label of low_res_cam", "label of cam_jbu", "label of refined_paper"}
    assert named == front | {"label of refined_reference"}  # the paper's maps are named too
    below = fig.get_supxlabel() if hasattr(fig, "get_supxlabel") else fig._supxlabel.get_text()
    assert "label of cam_bilateral" in below and "label of cam_jbu" not in below
    fig.savefig(tmp_path / "front.png")
