"""The refine pipeline: presets, localisation on synthetic pairs, the §5 fallback, properties."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrcam.postprocess import PRESETS, RefineConfig, RefineResult, refine, steps
from hrcam.postprocess.synthetic import synthetic_pair


def best_iou(cam: np.ndarray, mask: np.ndarray) -> float:
    """IoU of the best threshold in 0.05..0.95 (both maps get the same search)."""
    ious = []
    for t in np.linspace(0.05, 0.95, 19):
        pred = cam >= t
        ious.append((pred & mask).sum() / (pred | mask).sum())
    return float(max(ious))


def dome(shape, center, sigma):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((rr - center[0]) ** 2 + (cc - center[1]) ** 2) / (2 * sigma**2))


def test_result_has_every_intermediate():
    low, high, _ = synthetic_pair(3)
    res = refine(low, high)
    assert isinstance(res, RefineResult)
    assert res.config == PRESETS["paper"]
    for name in ("refined", "low_res_resized", "high_res", "blurred", "edges", "growth_source"):
        arr = getattr(res, name)
        assert arr.shape == high.shape and arr.dtype == np.float32, name
    for name in ("roi", "grown", "edge_mask", "filled", "keep_mask"):
        assert getattr(res, name).dtype == bool, name
    assert res.low_res.shape == low.shape
    assert res.focal_points.ndim == 2 and res.focal_points.shape[1] == 2
    assert np.issubdtype(res.focal_points.dtype, np.integer)
    assert res.lower <= res.upper
    assert res.roi_values.size == res.roi.sum()
    np.testing.assert_array_equal(res.growth_source, res.blurred)  # paper grows on the CAM
    assert set(res.timings) >= {"resize", "blur", "sobel", "region_growing", "fill_holes"}


@pytest.mark.parametrize("preset", ["paper", "reference"])
def test_refine_composes_the_public_steps(preset):
    # the region that is merged is the steps' add_edges and fill_holes of the grown region
    low, high, _ = synthetic_pair(5)
    res = refine(low, high, preset)
    with_edges = steps.add_edges(res.grown, res.edges, res.edge_threshold, res.roi)
    np.testing.assert_array_equal(
        res.edge_mask, steps.edge_mask(res.edges, res.edge_threshold, res.roi)
    )
    np.testing.assert_array_equal(
        res.filled, steps.fill_holes(with_edges, res.config.max_hole_size)
    )
    flat_roi = refine(low, np.ones_like(high), preset)  # zero gradient everywhere
    assert not flat_roi.edge_mask.any()


def test_presets_differ_as_designed():
    low, high, _ = synthetic_pair(1)
    paper, ref = refine(low, high, "paper"), refine(low, high, "reference")
    assert ref.config.focal_mode == "top_n" and len(ref.focal_points) == 15
    np.testing.assert_array_equal(ref.growth_source, ref.edges)
    # reference bounds are gradient quartiles inside the ROI; upper equals the edge threshold
    q1, q3 = np.percentile(ref.edges[ref.roi], [25, 75])
    assert (ref.lower, ref.upper) == pytest.approx((q1, q3))
    assert ref.edge_threshold == pytest.approx(ref.upper)
    # paper: bounds are quartiles of the blurred CAM; focal points are the low-res maxima
    q1, q3 = np.percentile(paper.blurred[paper.roi], [25, 75])
    assert (paper.lower, paper.upper) == pytest.approx((q1, q3))
    assert paper.focal_points_low_res is not None
    assert len(paper.focal_points) == len(paper.focal_points_low_res)
    # the ROI is shared: top 15 % of the resized low-res CAM
    assert paper.roi.mean() == pytest.approx(0.15, abs=0.01)
    np.testing.assert_array_equal(paper.roi, ref.roi)


def test_overrides_and_explicit_config():
    low, high, _ = synthetic_pair(2)
    res = refine(low, high, "reference", alpha=0.8, merge="multiply")
    assert res.config.alpha == 0.8 and res.config.merge == "multiply"
    assert res.config.focal_mode == "top_n"  # the rest of the preset is kept
    cfg = dataclasses.replace(PRESETS["paper"], top_n=5, focal_mode="top_n")
    assert len(refine(low, high, config=cfg).focal_points) == 5
    with pytest.raises(ValueError, match="unknown post-processing parameter"):
        refine(low, high, alpha_blend=0.3)
    with pytest.raises(ValueError, match="preset must be one of"):
        refine(low, high, "papper")
    with pytest.raises(ValueError, match="alpha must be"):
        RefineConfig(alpha=1.5)
    with pytest.raises(ValueError, match="roi_percentile"):
        refine(low, high, roi_percentile=120)


def test_crop_refined_keeps_top_percent():
    low, high, _ = synthetic_pair(4)
    res = refine(low, high, crop_refined=True, keep_percent=15)
    kept = (res.refined > 0).mean()
    assert 0 < kept <= 0.16


@pytest.mark.parametrize("preset", ["reference", "paper"])
def test_refined_localises_better_than_low_res(preset):
    """Measured IoU with the known object, best threshold for each map (12 random pairs)."""
    low_ious, ref_ious, failed = [], [], 0
    for seed in range(12):
        low, high, mask = synthetic_pair(seed)
        res = refine(low, high, preset)
        low_ious.append(best_iou(res.low_res_resized, mask))
        ref_ious.append(best_iou(res.refined, mask))
        failed += res.used_fallback
        if res.used_fallback:  # §5: a failed growth gives back the low-res map, never worse
            assert ref_ious[-1] == low_ious[-1]
    low_ious, ref_ious = np.array(low_ious), np.array(ref_ious)
    # measured: reference 0.81 -> 0.85 (10/12 better, 1 fallback); paper 0.81 -> 0.83 (8/12
    # better): the paper's quartile bounds on the CAM itself fail on 4/12 pairs and fall back
    assert ref_ious.mean() > low_ious.mean() + 0.01
    assert (ref_ious >= low_ious).mean() >= 0.5
    grown_ok = ref_ious != low_ious
    assert ref_ious[grown_ok].mean() > low_ious[grown_ok].mean() + 0.02
    assert failed < 12


def test_reference_preset_beats_low_res_on_small_objects():
    # objects smaller than the ROI: the gradient-based bounds still find them
    gains = []
    for seed in range(6):
        low, high, mask = synthetic_pair(seed, object_scale=1.0)
        res = refine(low, high, "reference")
        gains.append(best_iou(res.refined, mask) - best_iou(res.low_res_resized, mask))
    assert min(gains) > 0.0 and np.mean(gains) > 0.05


class TestFallback:
    """Paper §5: when growing fails (far too small or large), the result regresses to low-res."""

    low = dome((7, 7), (3, 3), 1.5)

    def too_small_pair(self):
        # the high-res map peaks where the low-res does: the seed is above the 3rd quartile of
        # the ROI values, so ConnectedThreshold grows nothing
        return self.low, dome((224, 224), (112, 112), 30)

    def too_large_pair(self):
        # no structure under the ROI: the bounds collapse to one value that floods the image
        high = np.zeros((224, 224))
        high[:6, :6] = 1.0
        return self.low, high

    @pytest.mark.parametrize(
        ("pair", "reason"), [("too_small_pair", "too_small"), ("too_large_pair", "too_large")]
    )
    def test_falls_back_to_low_res(self, pair, reason):
        low, high = getattr(self, pair)()
        res = refine(low, high, "paper")
        assert res.fallback == reason and res.used_fallback
        if reason == "too_small":
            assert res.region_ratio < res.config.min_region_ratio
        else:
            assert res.region_ratio > res.config.max_region_ratio
        np.testing.assert_array_equal(res.refined, res.low_res_resized)

        # without the explicit fallback the blend alone still tracks the low-res map, which
        # is the paper's argument; the explicit fallback makes it exact
        raw = refine(low, high, "paper", fallback_to_low_res=False, add_edges=False)
        assert raw.fallback == reason and not raw.used_fallback
        corr = np.corrcoef(raw.refined.ravel(), raw.low_res_resized.ravel())[0, 1]
        assert corr > 0.95
        assert not np.array_equal(raw.refined, raw.low_res_resized)

    def test_thresholds_are_config_fields(self):
        low, high, _ = synthetic_pair(1)
        ok = refine(low, high, "reference")
        assert ok.fallback is None
        strict = refine(low, high, "reference", min_region_ratio=ok.region_ratio + 0.01)
        assert strict.fallback == "too_small"
        np.testing.assert_array_equal(strict.refined, strict.low_res_resized)
        loose = refine(
            low, high, "reference", max_region_ratio=ok.region_ratio / 2, min_region_ratio=0
        )
        assert loose.fallback == "too_large"


maps = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 6), st.integers(0, 2**32 - 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dims=maps,
    preset=st.sampled_from(["paper", "reference"]),
    dtype=st.sampled_from(["float64", "float32", "int32", "bool"]),
    scale=st.sampled_from([1e-6, 1.0, 1e6]),
)
def test_refine_properties(dims, preset, dtype, scale):
    h, w, factor, seed = dims
    rng = np.random.default_rng(seed)
    low = rng.normal(size=(h, w)) * scale
    high = rng.normal(size=(h * factor, w * factor)) * scale
    if dtype == "bool":
        low, high = low > 0, high > 0
    else:
        low, high = low.astype(dtype), high.astype(dtype)
    res = refine(low, high, preset)
    assert res.refined.shape == high.shape
    assert res.refined.dtype == np.float32
    assert np.isfinite(res.refined).all()
    assert res.refined.min() >= 0.0 and res.refined.max() <= 1.0
    assert res.focal_points.min(initial=0) >= 0
    if len(res.focal_points):
        assert (res.focal_points.max(axis=0) < np.array(high.shape)).all()
