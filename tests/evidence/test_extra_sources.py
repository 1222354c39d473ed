"""Further high-res maps (``CamSet.extra_high_res``) as sources of the ablation."""

from __future__ import annotations

import pytest


def test_extra_high_res_maps_are_sources_of_refine_study(constructed):
    from hrcam.evidence import refine_study

    cams = constructed(n=4)
    cams.extra_high_res["copy"] = cams.high_res.copy()
    study = refine_study(cams, sources=["expansion", "copy"], n_boot=20, box_metrics=False)
    for preset in ("paper", "reference", "raw"):
        a = [r["pxap"] for r in study.per_image if r["method"] == f"{preset}@expansion"]
        b = [r["pxap"] for r in study.per_image if r["method"] == f"{preset}@copy"]
        assert a == b
    with pytest.raises(ValueError, match="unknown high-res source"):
        refine_study(cams, sources=["elsewhere"], n_boot=20)
