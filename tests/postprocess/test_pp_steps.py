"""Each post-processing step on hand-made arrays whose answer is known."""

import numpy as np
import pytest
import SimpleITK as sitk
from skimage.filters import sobel as sk_sobel
from skimage.transform import resize as sk_resize

from hrcam.postprocess import steps
from hrcam.postprocess.synthetic import ellipse_mask, synthetic_pair


def gaussian(shape, center, sigma):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((rr - center[0]) ** 2 + (cc - center[1]) ** 2) / (2 * sigma**2))


def test_normalize_range_and_constant():
    x = np.array([[2, 4], [6, 10]], dtype=np.int64)
    out = steps.normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0.25], [0.5, 1]])
    assert not steps.normalize(np.full((3, 3), 7.0)).any()
    huge = np.array([[-3e38, 3e38]], dtype=np.float32)
    np.testing.assert_allclose(steps.normalize(huge), [[0, 1]])


@pytest.mark.parametrize(
    ("src", "dst"), [((7, 7), (224, 224)), ((14, 14), (224, 224)), ((3, 5), (10, 17))]
)
def test_resize_matches_skimage_bilinear(src, dst):
    x = np.random.default_rng(0).random(src)
    ours = steps.resize_bilinear(x, dst)
    ref = sk_resize(x, dst, order=1, mode="edge", anti_aliasing=False)
    assert ours.shape == dst and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_two_gaussian_blobs_give_two_focal_points():
    x = gaussian((14, 14), (3, 3), 1.5) + 0.8 * gaussian((14, 14), (10, 9), 1.5)
    pts = steps.local_maxima(x)
    assert sorted(map(tuple, pts)) == [(3, 3), (10, 9)]
    # mid-range threshold (1 + 0.8) / 2 = 0.9 keeps only the brighter blob
    assert [tuple(p) for p in steps.midrange_maxima(x, pts)] == [(3, 3)]


def test_midrange_keeps_a_lone_maximum_and_equal_maxima():
    # One maximum: the threshold equals its value, and ">=" keeps it (">" would drop it).
    x = gaussian((9, 9), (4, 4), 1.5)
    assert [tuple(p) for p in steps.midrange_maxima(x, np.array([[4, 4]]))] == [(4, 4)]
    flat = np.zeros((5, 5))
    flat[1, 1] = flat[3, 3] = 1.0
    kept = steps.midrange_maxima(flat, np.array([[1, 1], [3, 3]]))
    assert sorted(map(tuple, kept)) == [(1, 1), (3, 3)]


def test_local_maxima_of_constant_map_is_empty():
    assert steps.local_maxima(np.ones((5, 5))).shape == (0, 2)


def test_map_points_aligns_pixel_centres():
    # low-res pixel (r, c) of a 7x7 map covers rows 32r..32r+31 of 224; centre 32r + 15.5 -> 16
    pts = steps.map_points(np.array([[0, 0], [3, 6]]), (7, 7), (224, 224))
    np.testing.assert_array_equal(pts, [[16, 16], [112, 208]])
    # the peak of the resized map sits where a single-pixel low-res maximum maps to
    low = np.zeros((7, 7))
    low[2, 5] = 1
    up = steps.resize_bilinear(low, (224, 224))
    peak = np.argwhere(up == up.max())
    mapped = steps.map_points(np.array([[2, 5]]), (7, 7), (224, 224))[0]
    assert peak.min(axis=0).tolist() <= mapped.tolist() <= peak.max(axis=0).tolist()


def test_top_n_points_are_the_brightest():
    x = np.arange(100, dtype=float).reshape(10, 10)
    pts = steps.top_n_points(x, 3)
    np.testing.assert_array_equal(pts, [[9, 9], [9, 8], [9, 7]])
    assert steps.top_n_points(np.ones((2, 2)), 15).shape == (4, 2)


def test_roi_keeps_top_15_percent_and_never_empty():
    x = np.arange(400, dtype=float).reshape(20, 20)
    roi = steps.roi_mask(x, 85)
    assert roi.sum() == 60 and roi[-1, -1] and not roi[0, 0]
    assert steps.roi_mask(np.zeros((4, 4)), 85).all()
    assert steps.roi_mask(x, 100).sum() == 1


@pytest.mark.parametrize("q", [0, 12.5, 25, 85, 99.9, 100])
def test_percentile_of_matches_numpy(q):
    x = np.random.default_rng(2).random((37, 29)).astype(np.float32)
    assert steps.percentile_of(x, q) == pytest.approx(float(np.percentile(x, q)), rel=1e-6)
    assert steps.percentile_of(np.array([3.0]), q) == 3.0


def test_box_blur_is_5x5_mean():
    x = np.zeros((11, 11), dtype=np.float32)
    x[5, 5] = 25.0
    out = steps.box_blur(x, 5)
    np.testing.assert_allclose(out[3:8, 3:8], 1.0, rtol=1e-6)
    assert out[2, 5] == 0 and out[5, 8] == 0
    assert out.sum() == pytest.approx(25.0)


def test_sobel_matches_skimage_up_to_scale():
    x = gaussian((40, 40), (20, 15), 5).astype(np.float32)
    ours = steps.sobel_magnitude(x)
    ref = sk_sobel(x)
    np.testing.assert_allclose(ours, ref / ref.max(), atol=1e-5)
    assert ours.max() == pytest.approx(1.0)
    assert not steps.sobel_magnitude(np.ones((8, 8))).any()


def test_region_bounds_are_quartiles_inside_roi():
    values = np.arange(16, dtype=float).reshape(4, 4)
    roi = np.zeros((4, 4), bool)
    roi[:, :2] = True  # values 0,1,4,5,8,9,12,13
    lower, upper, roi_values = steps.region_bounds(values, roi, 25, 75)
    assert (lower, upper) == (np.percentile(roi_values, 25), np.percentile(roi_values, 75))
    assert sorted(roi_values) == [0, 1, 4, 5, 8, 9, 12, 13]
    with pytest.raises(ValueError, match="roi is empty"):
        steps.region_bounds(values, np.zeros((4, 4), bool), 25, 75)


def test_disk_grown_from_centre_gives_the_disk():
    disk = ellipse_mask((64, 64), (30, 34), (12, 12))
    image = np.where(disk, 0.8, 0.1).astype(np.float32)
    grown = steps.connected_threshold(image, np.array([[30, 34]]), 0.5, 1.0)
    np.testing.assert_array_equal(grown, disk)
    # (row, col) is converted to SimpleITK's (x, y): a seed given transposed would miss
    off = np.zeros((20, 30), np.float32)
    off[2, 25] = 1
    assert steps.connected_threshold(off, np.array([[2, 25]]), 0.5, 1.5).sum() == 1
    assert not steps.connected_threshold(image, np.zeros((0, 2), int), 0.5, 1).any()
    # a seed outside the bounds grows nothing (ITK's rule)
    assert not steps.connected_threshold(image, np.array([[0, 0]]), 0.5, 1.0).any()


def test_connected_threshold_matches_plain_sitk_call():
    image = np.random.default_rng(1).random((30, 40)).astype(np.float32)
    ours = steps.connected_threshold(image, np.array([[10, 20]]), 0.2, 0.9)
    ref = sitk.GetArrayFromImage(
        sitk.ConnectedThreshold(
            sitk.GetImageFromArray(image), seedList=[(20, 10)], lower=0.2, upper=0.9
        )
    )
    np.testing.assert_array_equal(ours, ref.astype(bool))


def test_ring_with_small_hole_comes_back_filled():
    ring = ellipse_mask((64, 64), (32, 32), (20, 20)) & ~ellipse_mask((64, 64), (32, 32), (6, 6))
    hole = ~ring & ellipse_mask((64, 64), (32, 32), (20, 20))
    assert 0 < hole.sum() <= 256
    filled = steps.fill_holes(ring, 256)
    np.testing.assert_array_equal(filled, ring | hole)
    big = ellipse_mask((64, 64), (32, 32), (25, 25)) & ~ellipse_mask((64, 64), (32, 32), (15, 15))
    np.testing.assert_array_equal(steps.fill_holes(big, 256), big)  # hole of ~700 px stays


def test_add_edges_only_inside_roi():
    region = np.zeros((4, 4), bool)
    grad = np.array([[0.9, 0.1, 0.9, 0.1]] * 4)
    roi = np.zeros((4, 4), bool)
    roi[:2] = True
    out = steps.add_edges(region, grad, 0.5, roi)
    assert out.sum() == 4 and out[0, 0] and out[1, 2] and not out[2, 0]
    np.testing.assert_array_equal(out, steps.edge_mask(grad, 0.5, roi))
    region[3, 3] = True
    assert steps.add_edges(region, grad, 0.5, roi)[3, 3]  # the region is kept


def test_flat_roi_has_no_edges():
    # a flat ROI has zero gradient, so its threshold is zero too: zero is never an edge
    grad = np.zeros((4, 4))
    grad[3, 3] = 1.0  # outside the ROI
    roi = np.zeros((4, 4), bool)
    roi[:2] = True
    threshold = float(np.percentile(grad[roi], 75))
    assert threshold == 0.0
    assert not steps.edge_mask(grad, threshold, roi).any()
    assert not steps.add_edges(np.zeros((4, 4), bool), grad, threshold, roi).any()


def test_merge_blend_and_multiply():
    region = np.array([[True, False]])
    low = np.array([[0.4, 0.6]])
    np.testing.assert_allclose(steps.merge_maps(region, low, "blend", 0.5), [[0.7, 0.3]])
    np.testing.assert_allclose(steps.merge_maps(region, low, "blend", 1.0), [[1.0, 0.0]])
    np.testing.assert_allclose(steps.merge_maps(region, low, "multiply"), [[0.4, 0.0]])
    with pytest.raises(ValueError, match="mode"):
        steps.merge_maps(region, low, "max")


def test_keep_top_percent():
    x = np.arange(100, dtype=float).reshape(10, 10)
    assert steps.keep_top_percent(x, 15).sum() == 15
    assert not steps.keep_top_percent(x, 0).any()


def test_focal_points_dispatch_on_the_mode():
    low, high, _ = synthetic_pair(4)
    low_n = steps.normalize(low)
    low_r = steps.resize_bilinear(low_n, high.shape)
    points, low_points = steps.focal_points(low_n, low_r, "top_n", 7)
    assert low_points is None
    np.testing.assert_array_equal(points, steps.top_n_points(low_r, 7))
    points, low_points = steps.focal_points(low_n, low_r, "local_maxima")
    np.testing.assert_array_equal(low_points, steps.local_maxima(low_n))
    np.testing.assert_array_equal(points, steps.map_points(low_points, low.shape, high.shape))
    _, mid = steps.focal_points(low_n, low_r, "local_maxima_midrange")
    np.testing.assert_array_equal(mid, steps.midrange_maxima(low_n, low_points))
    with pytest.raises(ValueError, match="focal-point mode"):
        steps.focal_points(low_n, low_r, "brightest")


def test_growth_bounds_share_the_upper_percentile_only_on_the_gradient():
    rng = np.random.default_rng(5)
    source, gradient = rng.random((2, 30, 30)).astype(np.float32)
    roi = rng.random((30, 30)) < 0.3
    lo, up, edge, values = steps.growth_bounds(source, gradient, roi, 25, 75, 75, False)
    assert (lo, up) == steps.region_bounds(source, roi, 25, 75)[:2]
    assert edge == steps.percentile_of(gradient[roi], 75) != up
    np.testing.assert_array_equal(values, source[roi])
    lo, up, edge, _ = steps.growth_bounds(gradient, gradient, roi, 25, 75, 75, True)
    assert edge == up
    _, _, edge, _ = steps.growth_bounds(gradient, gradient, roi, 25, 75, 90, True)
    assert edge == steps.percentile_of(gradient[roi], 90)


def test_growth_failure_reasons_in_order():
    roi = np.zeros((10, 10), bool)
    roi[:5] = True
    grown = np.zeros_like(roi)
    grown[0, :2] = True
    ones, zeros, seeds = np.ones((3, 3)), np.zeros((3, 3)), np.array([[0, 0]])
    assert steps.growth_failure(zeros, zeros, seeds, grown, roi, 0.05, 4.0) == (
        0.04,
        "flat_low_res",
    )
    assert steps.growth_failure(ones, zeros, seeds, grown, roi, 0.05, 4.0)[1] == "flat_high_res"
    assert steps.growth_failure(ones, ones, seeds[:0], grown, roi, 0.0, 4.0)[1] == "no_focal_points"
    assert steps.growth_failure(ones, ones, seeds, grown, roi, 0.05, 4.0)[1] == "too_small"
    assert steps.growth_failure(ones, ones, seeds, grown, roi, 0.0, 0.01)[1] == "too_large"
    assert steps.growth_failure(ones, ones, seeds, grown, roi, 0.0, 4.0) == (0.04, None)


def test_refined_map_falls_back_and_crops():
    region = np.eye(20, dtype=bool)
    low = np.linspace(0, 1, 400, dtype=np.float32).reshape(20, 20)
    np.testing.assert_array_equal(steps.refined_map(region, low, True), low)
    merged = steps.refined_map(region, low, False, "blend", 0.3)
    np.testing.assert_array_equal(merged, steps.merge_maps(region, low, "blend", 0.3))
    cropped = steps.refined_map(region, low, True, keep_percent=10)
    assert np.count_nonzero(cropped) == 40 and cropped.max() == low.max()


def test_edge_mask_can_be_switched_off():
    gradient = np.ones((4, 4), np.float32)
    assert steps.edge_mask(gradient, 0.5, np.ones((4, 4), bool)).all()
    assert not steps.edge_mask(gradient, 0.5, np.ones((4, 4), bool), enabled=False).any()
