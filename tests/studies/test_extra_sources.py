"""Further high-res maps (``CamSet.extra_high_res``) as sources of the ablation."""

from __future__ import annotations

import pytest


def test_extra_high_res_maps_are_sources_of_refine_study(constructed):
    from hrcam.studies import refine_study

    cams = constructed(n=4)
    cams.extra_high_res["copy"] = cams.high_res.copy()
    study = refine_study(cams, sources=["expansion", "copy"], n_boot=20, box_metrics=False)
    for preset in ("paper", "reference", "raw"):
        a = [r["image_ap"] for r in study.per_image if r["method"] == f"{preset}@expansion"]
        b = [r["image_ap"] for r in study.per_image if r["method"] == f"{preset}@copy"]
        assert a == b
    with pytest.raises(ValueError, match="unknown high-res source"):
        refine_study(cams, sources=["elsewhere"], n_boot=20)


def test_box_metrics_off_leaves_maxboxacc_out_and_the_rest_unchanged(constructed):
    from hrcam.studies import refine_study

    cams = constructed(n=4)
    with_boxes = refine_study(cams, n_boot=20)
    without = refine_study(cams, n_boot=20, box_metrics=False)
    assert {r["metric"] for r in without.table} == (
        {r["metric"] for r in with_boxes.table} - {"max_box_acc_v2"}
    )
    assert without.table == [r for r in with_boxes.table if r["metric"] != "max_box_acc_v2"]
