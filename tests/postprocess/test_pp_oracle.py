"""``refine`` equals a straightforward version of itself, bit for bit, in every result field.

The oracle below is the pipeline as it was before its steps got fast paths: whole-array
library calls (scipy's box filter and Sobel, ``np.sort`` order statistics, ``argpartition``,
skimage's hole filling and local maxima, SimpleITK on the full image). Each of those is
itself checked against the library in ``test_pp_fast_steps.py``; here the whole chain is
compared on random and awkward map pairs, for both presets and the options that change which
code runs.
"""

import dataclasses

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage.morphology import local_maxima as sk_local_maxima
from skimage.morphology import remove_small_holes

from hrcam.postprocess import refine, resolve_config, steps
from hrcam.postprocess.synthetic import synthetic_pair


def oracle_percentile(values, q):
    """numpy's linear-interpolation percentile, from a full sort (the old partition's values)."""
    flat = np.sort(np.asarray(values).ravel())
    pos = (flat.size - 1) * float(q) / 100.0
    lo = int(np.floor(pos))
    a = float(flat[lo])
    b = float(flat[lo + 1]) if lo + 1 < flat.size else a
    return a + (b - a) * (pos - lo)


def oracle_normalize(x):
    x = np.asarray(x, dtype=np.float64)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.shape, np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)


def oracle_top_n(x, n):
    flat = x.ravel()
    n = min(n, flat.size)
    idx = np.argpartition(flat, flat.size - n)[flat.size - n :]
    idx = idx[np.argsort(-flat[idx], kind="stable")]
    return np.stack(np.unravel_index(idx, x.shape), axis=1).astype(np.intp)


def oracle_map_points(points, from_shape, to_shape):
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return np.zeros((0, 2), dtype=np.intp)
    scale = np.array(to_shape, dtype=np.float64) / np.array(from_shape, dtype=np.float64)
    mapped = np.rint((points + 0.5) * scale - 0.5).astype(np.intp)
    mapped = np.clip(mapped, 0, np.array(to_shape, dtype=np.intp) - 1)
    return np.unique(mapped, axis=0).astype(np.intp)


def oracle_sobel(x):
    g0, g1 = ndi.sobel(x, axis=0), ndi.sobel(x, axis=1)  # float32, like the old code
    grad = g0 * g0
    grad += g1 * g1
    np.sqrt(grad, out=grad)
    lo, hi = float(grad.min()), float(grad.max())
    if hi <= lo:
        return np.zeros(grad.shape, np.float32)
    grad -= lo
    grad *= np.float32(1.0 / (hi - lo))
    return np.clip(grad, 0.0, 1.0, out=grad)


def oracle_grow(image, seeds, lower, upper):
    if len(seeds) == 0:
        return np.zeros(image.shape, bool)
    out = sitk.ConnectedThreshold(
        sitk.GetImageFromArray(image),
        seedList=[(int(c), int(r)) for r, c in seeds],
        lower=float(lower),
        upper=float(upper),
        replaceValue=1,
    )
    return sitk.GetArrayFromImage(out).astype(bool)


def oracle_refine(low, high, cfg):
    """The pipeline written out with library calls; returns the RefineResult fields."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    low_n, high_n = oracle_normalize(low), oracle_normalize(high)
    # hrcam's resize, because the comparison is bit for bit; test_pp_steps checks it against
    # skimage's bilinear resize on its own.
    low_r = steps.resize_bilinear(low_n, high.shape)
    focal_low = None
    if cfg.focal_mode == "top_n":
        focal = oracle_top_n(low_r, cfg.top_n)
    else:
        if low_n.min() == low_n.max():
            focal_low = np.zeros((0, 2), np.intp)
        else:
            focal_low = np.argwhere(sk_local_maxima(low_n, allow_borders=True)).astype(np.intp)
        if cfg.focal_mode == "local_maxima_midrange":
            # The reference code's mid-range rule, written out: keep maxima >= (max + min) / 2.
            vals = low_n[focal_low[:, 0], focal_low[:, 1]]
            focal_low = focal_low[vals >= (vals.max() + vals.min()) / 2.0]
        focal = oracle_map_points(focal_low, low.shape, high.shape)
    roi = low_r >= oracle_percentile(low_r, cfg.roi_percentile)
    blurred = ndi.uniform_filter(high_n, size=cfg.blur_size, mode="reflect")
    gradient = oracle_sobel(blurred)
    source = blurred if cfg.grow_on == "high_res" else gradient
    roi_values = source[roi]
    lower = oracle_percentile(roi_values, cfg.lower_percentile)
    upper = oracle_percentile(roi_values, cfg.upper_percentile)
    if cfg.grow_on == "gradient" and cfg.edge_percentile == cfg.upper_percentile:
        edge_threshold = upper
    else:
        edge_threshold = oracle_percentile(gradient[roi], cfg.edge_percentile)
    grown = oracle_grow(source, focal, lower, upper)
    if cfg.add_edges:
        edge_mask = (gradient >= edge_threshold) & (gradient > 0) & roi
    else:
        edge_mask = np.zeros_like(roi)
    with_edges = grown | edge_mask
    if cfg.max_hole_size > 0:
        filled = remove_small_holes(with_edges, max_size=cfg.max_hole_size)
    else:
        filled = with_edges.copy()
    region_ratio = float(grown.sum()) / float(roi.sum())
    if not low_n.any():
        fallback = "flat_low_res"
    elif not high_n.any():
        fallback = "flat_high_res"
    elif len(focal) == 0:
        fallback = "no_focal_points"
    elif region_ratio < cfg.min_region_ratio:
        fallback = "too_small"
    elif region_ratio > cfg.max_region_ratio:
        fallback = "too_large"
    else:
        fallback = None
    used_fallback = fallback is not None and cfg.fallback_to_low_res
    if used_fallback:
        refined = low_r.copy()
    elif cfg.merge == "blend":
        refined = cfg.alpha * filled.astype(np.float32) + (1.0 - cfg.alpha) * low_r
        refined = np.clip(refined.astype(np.float32), 0.0, 1.0)
    else:
        refined = np.clip(filled.astype(np.float32) * low_r, 0.0, 1.0)
    if cfg.crop_refined:
        keep = refined >= oracle_percentile(refined, 100.0 - cfg.keep_percent)
        refined = np.where(keep, refined, np.float32(0.0)).astype(np.float32)
    return {
        "refined": refined,
        "low_res": low_n,
        "low_res_resized": low_r,
        "high_res": high_n,
        "focal_points": focal,
        "focal_points_low_res": focal_low,
        "roi": roi,
        "blurred": blurred,
        "edges": gradient,
        "growth_source": source,
        "roi_values": roi_values,
        "lower": lower,
        "upper": upper,
        "edge_threshold": edge_threshold,
        "grown": grown,
        "edge_mask": edge_mask,
        "filled": filled,
        "region_ratio": region_ratio,
        "fallback": fallback,
        "used_fallback": used_fallback,
        "config": cfg,
    }


def assert_same_as_oracle(low, high, preset, **overrides):
    res = refine(low, high, preset, **overrides)
    expected = oracle_refine(low, high, resolve_config(preset, **overrides))
    for name in (f.name for f in dataclasses.fields(res) if f.name != "timings"):
        got, want = getattr(res, name), expected[name]
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype and got.shape == want.shape, name
            assert got.tobytes() == want.tobytes(), name  # bit for bit, signed zeros included
        elif isinstance(want, float):
            assert type(got) is float and got == want, (name, got, want)
        else:
            assert got == want, (name, got, want)
    return res


def _corner_low():
    low = np.zeros((7, 7))
    low[0, 0], low[0, 1], low[1, 0] = 1.0, 0.5, 0.5
    return low


def _several_peaks():
    low = np.zeros((7, 7))
    low[1, 1], low[5, 5], low[1, 5] = 1.0, 0.9, 0.8
    return low


def _border_plateau():
    # the peak on the map's border: the resized map is a plateau of ties at its top
    low = np.full((7, 7), 0.1)
    low[0, 3] = 1.0
    return low


_, HIGH, _ = synthetic_pair(7)
LOW = synthetic_pair(7)[0]
FLOOD = np.zeros((224, 224))
FLOOD[:6, :6] = 1.0

AWKWARD = {
    "roi in the corner": (_corner_low(), HIGH),
    "roi at the bottom border": (np.eye(7)[::-1] * 0 + np.pad([[1.0]], ((6, 0), (3, 3))), HIGH),
    "several focal points": (_several_peaks(), HIGH),
    "ties at the top-n cut": (_border_plateau(), HIGH),
    "flat low-res": (np.ones((7, 7)), HIGH),
    "flat high-res": (LOW, np.full((224, 224), 3.0)),
    "both flat": (np.zeros((7, 7)), np.zeros((224, 224))),
    "region floods the map": (LOW, FLOOD),
    "noise": (np.random.default_rng(1).random((7, 7)), np.random.default_rng(2).random((224, 224))),
    "tiny values near zero": (LOW, HIGH.astype(np.float64) ** 40),
    "odd, non-square": (
        np.random.default_rng(3).random((7, 5)),
        ndi.gaussian_filter(np.random.default_rng(4).random((225, 161)), 3),
    ),
    "integers": ((LOW * 10).astype(int), (HIGH * 10).astype(int)),
    "booleans": (LOW > 0.5, HIGH > 0.5),
    "one pixel low-res": (np.array([[1.0]]), np.array([[0.0, 1.0], [2.0, 3.0]])),
}


@pytest.mark.parametrize("preset", ["paper", "reference"])
@pytest.mark.parametrize("case", sorted(AWKWARD))
def test_awkward_pairs_equal_the_oracle(case, preset):
    low, high = AWKWARD[case]
    assert_same_as_oracle(low, high, preset)


@pytest.mark.parametrize("preset", ["paper", "reference"])
@pytest.mark.parametrize("seed", range(6))
def test_synthetic_pairs_equal_the_oracle(seed, preset):
    low, high, _ = synthetic_pair(seed, low_shape=(7, 7) if seed % 2 else (14, 14))
    assert_same_as_oracle(low, high, preset)


@pytest.mark.parametrize(
    "overrides",
    [
        {"focal_mode": "local_maxima_midrange"},
        {"add_edges": False},
        {"merge": "multiply", "crop_refined": True},
        {"max_hole_size": 0},
        {"edge_percentile": 90.0},
        {"blur_size": 4},
        {"blur_size": 1},
        {"roi_percentile": 99.0, "fallback_to_low_res": False},
    ],
)
def test_options_equal_the_oracle(overrides):
    for seed in (1, 2):
        low, high, _ = synthetic_pair(seed)
        assert_same_as_oracle(low, high, "paper", **overrides)
        assert_same_as_oracle(low, high, "reference", **overrides)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    low_shape=st.tuples(st.integers(1, 14), st.integers(1, 14)),
    factor=st.integers(1, 24),
    seed=st.integers(0, 2**32 - 1),
    preset=st.sampled_from(["paper", "reference"]),
    smooth=st.sampled_from([0.0, 1.0, 4.0]),
    levels=st.sampled_from([0, 3, 16]),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_random_pairs_equal_the_oracle(low_shape, factor, seed, preset, smooth, levels, dtype):
    rng = np.random.default_rng(seed)
    low = rng.random(low_shape)
    high = rng.random((low_shape[0] * factor, low_shape[1] * factor))
    if smooth:
        high = ndi.gaussian_filter(high, smooth)
    if levels:  # few grey levels: ties everywhere (plateaus, percentile ties, flat ROIs)
        low, high = np.round(low * levels), np.round(high * levels)
    assert_same_as_oracle(low.astype(dtype), high.astype(dtype), preset)
