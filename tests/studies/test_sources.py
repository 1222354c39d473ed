"""High-res-source ablation: oracle, noise, image and expansion maps through the same pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from hrcam.studies import (
    FAILURE_KINDS,
    SOURCES,
    failure_kind,
    high_res_source,
    mask_iou,
    oracle_map,
    refine_study,
)


def test_oracle_scores_above_noise_on_a_constructed_case(constructed):
    cams = constructed()
    study = refine_study(cams, sources=["noise", "oracle"], n_boot=200)
    # The reference preset grows on the gradient: the oracle's edges beat noise clearly.
    oracle, noise = study.value("reference@oracle", "pxap"), study.value("reference@noise", "pxap")
    assert oracle > noise + 0.1, (oracle, noise)
    # The paper preset's Q1-Q3 bounds of the ROI's high-res values cut the oracle's object in
    # half, so growth often fails and falls back to the low-res CAM; it still never loses to
    # noise, which falls back too or grows at random.
    oracle, noise = study.value("paper@oracle", "pxap"), study.value("paper@noise", "pxap")
    assert oracle >= noise, (oracle, noise)
    # the raw oracle map localises almost perfectly, raw noise not at all
    assert study.value("raw@oracle", "pxap") > 0.9
    assert study.value("raw@noise", "pxap") < 0.5
    # the paired difference is against the low-res CAM on the same images
    row = study.difference("reference@oracle", "pxap")
    assert row["n"] == len(cams)
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    low = study.value("low_res_cam", "pxap")
    assert row["difference"] == pytest.approx(study.value("reference@oracle", "pxap") - low)


def test_all_sources_and_per_image_records(constructed):
    cams = constructed(n=4)
    study = refine_study(cams, sources=["all"], n_boot=50, keep_results=[0])
    assert study.config["sources"] == list(SOURCES)
    refined = [r for r in study.per_image if r["config"] in ("paper", "reference")]
    assert len(refined) == 4 * len(SOURCES) * 2
    for r in refined:
        assert r["kind"] in FAILURE_KINDS
        assert 0.0 <= r["roi_iou"] <= 1.0 and 0.0 <= r["grown_iou"] <= 1.0
    assert (0, "paper@oracle") in study.results
    assert sum(study.kind_counts("paper@expansion").values()) == 4


def test_sources_are_deterministic_and_oracle_parameters_act(constructed):
    cams = constructed(n=2)
    a = high_res_source("noise", cams, 0, seed=1)
    assert np.array_equal(a, high_res_source("noise", cams, 0, seed=1))
    assert not np.array_equal(a, high_res_source("noise", cams, 1, seed=1))
    rng = np.random.default_rng(0)
    sharp = oracle_map(cams.masks[0], rng, smoothness=0, noise=0)
    assert np.array_equal(sharp > 0.5, cams.masks[0])
    assert np.ptp(oracle_map(cams.masks[0], rng, smoothness=0, noise=1.0)) > 0.9
    lum = high_res_source("image", cams, 0)
    assert lum.shape == cams.masks[0].shape
    with pytest.raises(ValueError, match="noise"):
        oracle_map(cams.masks[0], rng, noise=1.5)
    with pytest.raises(ValueError, match="unknown high-res source"):
        high_res_source("gaussian", cams, 0)
    with pytest.raises(ValueError, match="unknown high-res source"):
        refine_study(cams, sources=["bogus"])


def test_failure_kind_order_and_iou():
    base = {"fallback_reason": "", "low_res_pointing": 1.0, "image_ap": 0.8,
            "low_res_image_ap": 0.7}  # fmt: skip
    assert failure_kind(base) == "refined wins"
    assert failure_kind({**base, "image_ap": 0.6}) == "refined loses"
    assert failure_kind({**base, "low_res_pointing": 0.0}) == "ROI off the object"
    assert failure_kind({**base, "fallback_reason": "too_small"}) == "fallback: too small"
    assert failure_kind({**base, "fallback_reason": "too_large"}) == "fallback: too large"
    assert failure_kind({**base, "fallback_reason": "flat_high_res"}) == "fallback: other"
    a = np.zeros((4, 4), bool)
    assert mask_iou(a, a) == 0.0
    a[:2] = True
    assert mask_iou(a, a) == 1.0
