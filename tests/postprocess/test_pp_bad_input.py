"""Issue 2 item 6: every awkward input either works as documented or raises a clear ValueError."""

import numpy as np
import pytest
import torch

from hrcam.postprocess import refine
from hrcam.postprocess.synthetic import synthetic_pair

LOW, HIGH, _ = synthetic_pair(0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["low_res_cam", "high_res_cam"])
def test_non_finite_values_are_rejected(bad, which):
    low, high = LOW.copy(), HIGH.copy()
    (low if which == "low_res_cam" else high)[0, 0] = bad
    with pytest.raises(ValueError, match=f"{which} contains .*NaN.*infinite"):
        refine(low, high)


@pytest.mark.parametrize("preset", ["paper", "reference"])
@pytest.mark.parametrize("value", [0.0, 3.5])
def test_constant_low_res_gives_zero_map(preset, value):
    # no location information: no focal points, documented all-zero refined map
    res = refine(np.full((7, 7), value), HIGH, preset)
    assert res.fallback == "flat_low_res" and res.used_fallback
    assert res.refined.shape == HIGH.shape and not res.refined.any()
    if preset == "paper":
        assert res.focal_points.shape == (0, 2)  # "no local maxima"


@pytest.mark.parametrize("preset", ["paper", "reference"])
@pytest.mark.parametrize("value", [0.0, -2.0])
def test_constant_high_res_gives_normalised_low_res(preset, value):
    res = refine(LOW, np.full(HIGH.shape, value), preset)
    assert res.fallback == "flat_high_res"
    expected = refine(LOW, HIGH, preset).low_res_resized
    np.testing.assert_array_equal(res.refined, expected)
    # resizing interpolates between low-res pixel centres, so the range is inside [0, 1]
    assert 0 <= res.refined.min() < 0.01 and 0.95 < res.refined.max() <= 1


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (LOW[None], HIGH, r"low_res_cam must be a 2-D map, got shape \(1, 7, 7\)"),
        (LOW, HIGH[..., None], r"high_res_cam must be a 2-D map"),
        (LOW.ravel(), HIGH, r"low_res_cam must be a 2-D map"),
        (np.zeros((0, 7)), HIGH, r"low_res_cam is empty"),
        (HIGH, LOW, r"low_res_cam .* is larger than high_res_cam"),
        (LOW, HIGH[:, :100], r"different aspect ratios"),
        (np.array([["a", "b"]]), HIGH, r"low_res_cam must hold real numbers"),
        (LOW.astype(complex), HIGH, r"low_res_cam must be real-valued"),
        ([[1, 2], [3]], HIGH, r"low_res_cam could not be read as an array"),
    ],
)
def test_bad_shapes_and_types_name_the_argument(low, high, message):
    with pytest.raises(ValueError, match=message):
        refine(low, high)


def test_integer_and_boolean_maps_work_like_floats():
    low_int = np.round(LOW * 100).astype(np.int16)
    high_int = np.round(HIGH * 1000).astype(np.int64)
    a = refine(low_int, high_int)
    b = refine(low_int.astype(float), high_int.astype(float))
    np.testing.assert_array_equal(a.refined, b.refined)
    res = refine(LOW > 0.5, HIGH > 0.5, "reference")
    assert res.refined.shape == HIGH.shape and np.isfinite(res.refined).all()


def test_roi_is_never_empty():
    # ROI uses ">=" a percentile, so even the 100th percentile keeps the maximum
    res = refine(LOW, HIGH, roi_percentile=100)
    assert res.roi.sum() >= 1 and res.roi_values.size == res.roi.sum()


def test_torch_tensors_and_lists_are_accepted():
    a = refine(torch.from_numpy(LOW), torch.from_numpy(HIGH).requires_grad_(True))
    b = refine(LOW.tolist(), HIGH)
    np.testing.assert_array_equal(a.refined, b.refined)


def test_single_pixel_maps():
    res = refine(np.array([[0.3]]), np.array([[0.7]]))
    assert res.refined.shape == (1, 1) and res.fallback == "flat_low_res"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_finite_values_are_not_mistaken_for_infinities(dtype):
    # their sum overflows; only real NaN/inf values are rejected. A power of two scales
    # exactly, so the normalised maps are the same.
    big = 2.0 ** (126 if dtype == "float32" else 1022)
    low = LOW.astype(dtype) * big
    high = HIGH.astype(dtype) * big
    res = refine(low, high)
    np.testing.assert_array_equal(res.high_res, refine(LOW, HIGH).high_res)
    high[3, 4] = np.inf
    with pytest.raises(ValueError, match="0 NaN and 1 infinite"):
        refine(low, high)
