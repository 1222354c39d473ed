"""The hand-written fast steps give the same numbers as the library calls they replace."""

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage.morphology import local_maxima as sk_local_maxima
from skimage.morphology import remove_small_holes

from hrcam.postprocess import steps
from hrcam.postprocess.steps import filters, seeds
from hrcam.postprocess.synthetic import ellipse_mask


def _sk_maxima(x):
    return np.argwhere(sk_local_maxima(x, allow_borders=True)).reshape(-1, 2)


@pytest.mark.parametrize("levels", [2, 3, 5, 1000])
def test_local_maxima_equals_skimage_with_plateaus(levels):
    # few grey levels give many plateaus, at the minimum, on borders and in the middle
    rng = np.random.default_rng(levels)
    for _ in range(300):
        shape = tuple(rng.integers(1, 10, size=2))
        x = rng.integers(0, levels, size=shape).astype(np.float32)
        np.testing.assert_array_equal(steps.local_maxima(x), _sk_maxima(x), err_msg=str(x))


def test_local_maxima_equals_skimage_on_smooth_and_special_maps():
    rng = np.random.default_rng(7)
    maps = [ndi.uniform_filter(rng.random((14, 14)), 3) for _ in range(50)]
    snake = np.zeros((7, 7))
    snake[1, :6] = snake[1:6, 5] = snake[5, 1:6] = 1.0  # one long plateau, no higher neighbour
    leaky = snake.copy()
    leaky[3, 1] = 1.0  # still one maximum; then a higher pixel next to the plateau's far end
    leaky2 = snake.copy()
    leaky2[6, 0] = 2.0
    maps += [snake, leaky, leaky2, np.ones((5, 5)), np.zeros((1, 1)), np.eye(4), -np.eye(4)]
    for x in maps:
        np.testing.assert_array_equal(steps.local_maxima(x), _sk_maxima(x), err_msg=str(x))
    assert len(steps.local_maxima(snake)) == int(snake.sum())
    assert len(steps.local_maxima(leaky2)) == 1
    ints = rng.integers(0, 3, size=(6, 6))
    np.testing.assert_array_equal(steps.local_maxima(ints), _sk_maxima(ints))
    np.testing.assert_array_equal(steps.local_maxima(ints > 1), _sk_maxima((ints > 1) * 1))


def test_sobel_equals_scipy_sobel_magnitude():
    rng = np.random.default_rng(3)
    for shape in [(224, 224), (31, 17), (3, 3)]:
        x = rng.random(shape).astype(np.float32)
        x = ndi.uniform_filter(x, 5, mode="reflect")
        g = np.sqrt(ndi.sobel(x, axis=0) ** 2 + ndi.sobel(x, axis=1) ** 2)
        ref = (g - g.min()) / (g.max() - g.min())
        ours = steps.sobel_magnitude(x)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)
        # each directional derivative is bit-identical to scipy's
        g_rows, g_cols = filters._sobel_derivatives(x)
        np.testing.assert_array_equal(g_rows, ndi.sobel(x, axis=0))
        np.testing.assert_array_equal(g_cols, ndi.sobel(x, axis=1))


def _random_masks(rng):
    for density in (0.3, 0.5, 0.7, 0.9):
        yield rng.random((40, 50)) < density
    for _ in range(40):
        # blobs with holes of random sizes, anywhere (touching borders too)
        shape = (int(rng.integers(20, 90)), int(rng.integers(20, 90)))
        centre = (rng.integers(0, shape[0]), rng.integers(0, shape[1]))
        outer = rng.integers(3, 30, size=2)
        inner = np.maximum(outer - rng.integers(1, 10, size=2), 1)
        mask = ellipse_mask(shape, centre, outer) & ~ellipse_mask(shape, centre, inner)
        yield mask | (rng.random(shape) < 0.02)


@pytest.mark.parametrize("max_size", [0, 1, 8, 64, 256])
def test_fill_holes_equals_skimage_remove_small_holes(max_size):
    rng = np.random.default_rng(max_size)
    for mask in _random_masks(rng):
        ref = remove_small_holes(mask, max_size=max_size) if max_size > 0 else mask
        np.testing.assert_array_equal(steps.fill_holes(mask, max_size), ref)


@pytest.mark.parametrize("band_rows", [0, 1, 2, 3])
def test_fill_holes_thin_border_bands_and_exact_sizes(band_rows):
    # a full-width bar leaves a band of band_rows * 20 px above it: a "hole" for skimage when
    # small enough, also when it touches the image border
    mask = np.zeros((30, 20), bool)
    mask[band_rows : band_rows + 4] = True
    for max_size in (19, 20, 40, 60, 61):
        ref = remove_small_holes(mask, max_size=max_size)
        np.testing.assert_array_equal(steps.fill_holes(mask, max_size), ref)
    # holes of exactly max_size and max_size + 1 pixels
    square = np.ones((40, 40), bool)
    square[5:21, 5:21] = False  # 256 px
    square[25:38, 25:35] = False
    square[25, 35] = False  # 131 px
    for max_size in (130, 131, 255, 256):
        np.testing.assert_array_equal(
            steps.fill_holes(square, max_size), remove_small_holes(square, max_size=max_size)
        )
    empty = np.zeros((10, 10), bool)  # one background component of 100 px
    assert steps.fill_holes(empty, 100).all() and remove_small_holes(empty, max_size=100).all()
    assert not steps.fill_holes(empty, 99).any()
    assert not remove_small_holes(empty, max_size=99).any()
    assert steps.fill_holes(np.ones((10, 10), bool), 50).all()


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_merge_blend_equals_the_formula_bit_for_bit(alpha):
    rng = np.random.default_rng(4)
    region = rng.random((50, 60)) < 0.4
    low = rng.random((50, 60)).astype(np.float32)
    ref = np.clip(alpha * region.astype(np.float32) + (1.0 - alpha) * low, 0, 1)
    np.testing.assert_array_equal(steps.merge_maps(region, low, "blend", alpha), ref)
    np.testing.assert_array_equal(
        steps.merge_maps(region.astype(np.float32), low, "blend", alpha), ref
    )


def _numpy_map_points(pts, from_shape, to_shape):
    scale = np.array(to_shape, dtype=np.float64) / np.array(from_shape, dtype=np.float64)
    ref = np.rint((pts + 0.5) * scale - 0.5).astype(np.intp)
    return np.unique(np.clip(ref, 0, np.array(to_shape) - 1), axis=0).reshape(-1, 2)


def test_map_points_sorted_unique_like_numpy_unique():
    rng = np.random.default_rng(5)
    pts = rng.integers(0, 7, size=(40, 2))
    ours = steps.map_points(pts, (7, 7), (20, 30))
    np.testing.assert_array_equal(ours, _numpy_map_points(pts, (7, 7), (20, 30)))


def test_map_points_of_a_few_points_equal_the_numpy_formula():
    # few points take a plain-Python path; scales like 3/2 put centres exactly on .5 (rint
    # rounds half to even), and duplicates, clipping and odd shapes all occur
    rng = np.random.default_rng(6)
    for _ in range(300):
        from_shape = tuple(int(v) for v in rng.integers(1, 15, size=2))
        to_shape = tuple(
            int(f * k) + int(e)
            for f, k, e in zip(
                from_shape, rng.integers(1, 5, 2), rng.integers(0, 3, 2), strict=True
            )
        )
        pts = rng.integers(0, from_shape, size=(int(rng.integers(1, 33)), 2))
        ours = steps.map_points(pts, from_shape, to_shape)
        assert ours.dtype == np.intp
        np.testing.assert_array_equal(ours, _numpy_map_points(pts, from_shape, to_shape))
    assert steps.map_points(np.array([[0, 0], [1, 1]]), (2, 2), (3, 3)).tolist() == [[0, 0], [2, 2]]


def _sorted_stat(values, k):
    return float(np.sort(values.ravel())[k])


def _awkward_arrays(rng):
    """Large arrays on which a strided sample misjudges ranks, plus ordinary ones."""
    n = 50176
    yield rng.random(n).astype(np.float32)
    yield np.sort(rng.random(n)).astype(np.float32)  # sorted: the sample sees every 24th value
    yield np.sort(rng.random(n))[::-1].copy()
    yield np.tile(np.arange(24, dtype=np.float32), n // 24)  # period = the sample's stride
    yield np.round(rng.random(n) * 3).astype(np.float32)  # four values: ties at every rank
    yield np.zeros(n, np.float32)
    spike = np.zeros(n, np.float32)
    spike[rng.choice(n, 30, replace=False)] = rng.random(30).astype(np.float32) + 1
    yield spike  # the top values are missed by the sample
    yield steps.resize_bilinear(rng.random((7, 7)), (224, 224)).ravel()
    yield rng.random(16383).astype(np.float32)  # just below the bracketing size
    yield rng.random(16384 * 3 + 7)


def test_order_stats_equal_a_full_sort():
    rng = np.random.default_rng(11)
    for values in _awkward_arrays(rng):
        n = values.size
        for ranks in ([0], [n - 1], [n - 15], [int(0.85 * n), int(0.85 * n) + 1], [n // 2]):
            got = seeds._order_stats(values, ranks)
            assert got == [_sorted_stat(values, k) for k in ranks]
            assert all(type(v) is float for v in got)
        for q in (0, 25, 50, 75, 85, 99.97, 100):
            # the old single-partition percentile, from a full sort
            flat = np.sort(values)
            pos = (n - 1) * q / 100.0
            lo = int(np.floor(pos))
            a, b = float(flat[lo]), float(flat[min(lo + 1, n - 1)])
            assert steps.percentile_of(values, q) == a + (b - a) * (pos - lo)


def _argpartition_top_n(x, n):
    flat = x.ravel()
    idx = np.argpartition(flat, flat.size - n)[flat.size - n :]
    idx = idx[np.argsort(-flat[idx], kind="stable")]
    return np.stack(np.unravel_index(idx, x.shape), axis=1)


def test_top_n_points_equal_argpartition_with_and_without_ties():
    rng = np.random.default_rng(12)
    # low-res maxima in the middle: no ties near the top of the resized map
    centre = 2 * np.pad(np.ones((3, 3)), 2)
    maps = [steps.resize_bilinear(rng.random((7, 7)) + centre, (224, 224)) for _ in range(5)]
    # maxima anywhere, on the border too (clamped edges: ties)
    maps += [steps.resize_bilinear(rng.random((7, 7)), (224, 224)) for _ in range(5)]
    border = np.full((7, 7), 0.1)
    border[0, 3] = 1.0
    maps.append(steps.resize_bilinear(border, (224, 224)))  # a 16-pixel plateau on top
    maps.append(np.round(rng.random((224, 224)) * 5).astype(np.float32))  # ties everywhere
    maps.append(rng.random((150, 150)))
    maps.append(rng.random((20, 20)))  # small: argpartition only
    distinct = 0
    for x in maps:
        for n in (1, 15, 40):
            np.testing.assert_array_equal(steps.top_n_points(x, n), _argpartition_top_n(x, n))
            distinct += seeds._distinct_top_n(x.ravel(), n) is not None
    assert distinct >= 15  # the fast path is the one taken on maps peaking inside
    border_map = maps[10].ravel()
    assert seeds._distinct_top_n(border_map, 15) is None  # ties: argpartition decides


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8])
def test_box_blur_equals_scipy_bit_for_bit(size):
    rng = np.random.default_rng(size)
    for i in range(60):
        shape = (int(rng.integers(1, 70)), int(rng.integers(1, 70)))
        x = rng.random(shape)
        kind = i % 5
        if kind == 1:
            x = x**30  # values near zero: the float64 sums are not exact, scipy runs
        elif kind == 2:
            x = np.round(x * 8) / 8
        elif kind == 3:
            x = 2 * x - 1  # negative values: scipy runs
        elif kind == 4:
            x[rng.random(shape) < 0.3] = 0.0
        x = x.astype(np.float32)
        ours = steps.box_blur(x, size)
        ref = ndi.uniform_filter(x, size=size, mode="reflect")
        assert ours.dtype == np.float32 and ours.tobytes() == ref.tobytes(), (shape, kind)


def test_box_blur_takes_the_opencv_path_on_normalised_maps():
    x = steps.normalize(np.random.default_rng(0).random((224, 224)))
    assert filters._sums_are_exact(x, 5)
    assert not filters._sums_are_exact(x * np.float32(1e-8), 5)
    assert not filters._sums_are_exact(x - np.float32(0.5), 5)
    for bad in (np.nan, np.inf):
        y = x.copy()
        y[50, 60] = bad
        assert not filters._sums_are_exact(y, 5)
        # scipy's own result, non-finite values spread the way its running sum spreads them
        ref = ndi.uniform_filter(y, size=5, mode="reflect")
        assert steps.box_blur(y, 5).tobytes() == ref.tobytes()


def test_sobel_magnitude_equals_the_scipy_formula_bit_for_bit():
    rng = np.random.default_rng(13)
    for i in range(80):
        shape = (int(rng.integers(1, 60)), int(rng.integers(1, 60)))
        x = rng.random(shape).astype(np.float32) ** int(rng.integers(1, 8))
        if i % 3 == 0:
            x = ndi.uniform_filter(x, 5, mode="reflect")
        g0, g1 = ndi.sobel(x, axis=0), ndi.sobel(x, axis=1)
        g_rows, g_cols = filters._sobel_derivatives(x)
        assert g_rows.tobytes() == g0.tobytes() and g_cols.tobytes() == g1.tobytes(), shape
        grad = np.sqrt(g0 * g0 + g1 * g1)
        lo, hi = float(grad.min()), float(grad.max())
        if hi > lo:
            ref = np.clip((grad - lo) * np.float32(1.0 / (hi - lo)), 0.0, 1.0)
        else:
            ref = np.zeros(shape, np.float32)
        assert steps.sobel_magnitude(x).tobytes() == ref.tobytes(), shape


def test_fill_holes_with_many_or_no_unfilled_components():
    # many large background components (a grid of walls): the per-label lookup branch
    grid = np.zeros((120, 120), bool)
    grid[::20] = grid[:, ::20] = True
    grid[45:48, 45:48] = True
    grid[46, 46] = False  # one one-pixel hole
    # no component stays: every background piece is small
    speckle = np.random.default_rng(1).random((40, 40)) < 0.8
    for mask in (grid, speckle, ~grid):
        for max_size in (1, 100, 400, 2000):
            ref = remove_small_holes(mask, max_size=max_size)
            np.testing.assert_array_equal(steps.fill_holes(mask, max_size), ref)
    assert steps.fill_holes(speckle, 2000).all()
    assert steps.fill_holes(np.zeros((0, 4), bool), 5).shape == (0, 4)


def test_connected_threshold_equals_sitk_at_the_float32_bounds():
    rng = np.random.default_rng(14)
    image = rng.random((30, 40)).astype(np.float32)
    simg = sitk.GetImageFromArray(image)
    for _ in range(400):
        seeds = np.stack([rng.integers(0, 30, 3), rng.integers(0, 40, 3)], axis=1)
        v = float(image[seeds[0, 0], seeds[0, 1]])
        ulp = float(np.spacing(np.float32(v)))
        # bounds at the seed value, a hair inside or outside it, and where float32 rounds
        near = [v, v - ulp / 2, v + ulp / 2, v - 0.49 * ulp, v + 0.51 * ulp, v - ulp, v + ulp]
        lower, upper = float(rng.choice(near)), float(rng.choice(near))
        if rng.random() < 0.5:
            lower = v - rng.random()
        else:
            upper = v + rng.random()
        ref = sitk.ConnectedThreshold(
            simg, seedList=[(int(c), int(r)) for r, c in seeds], lower=lower, upper=upper
        )
        ours = steps.connected_threshold(image, seeds, lower, upper)
        np.testing.assert_array_equal(ours, sitk.GetArrayFromImage(ref).astype(bool))


def test_normalize_reads_float32_like_float64():
    rng = np.random.default_rng(15)
    for x in (rng.random((50, 60)), rng.normal(size=(9, 9)) * 1e30, rng.random((3, 4)) ** 40):
        x32 = x.astype(np.float32)
        assert steps.normalize(x32).tobytes() == steps.normalize(x32.astype(np.float64)).tobytes()


def _sitk_grow(image, seeds, lower, upper):
    # SimpleITK's own ConnectedThreshold, through the package's backend that only calls it
    return steps.connected_threshold(image, seeds, lower, upper, backend="simpleitk")


@settings(max_examples=150, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    levels=st.sampled_from([2, 3, 5, 0]),
    n_seeds=st.integers(0, 20),
    bounds=st.tuples(st.floats(-0.5, 1.5), st.floats(-0.5, 1.5)),
    seed=st.integers(0, 2**31 - 1),
)
def test_connected_threshold_equals_sitk_on_random_maps(shape, levels, n_seeds, bounds, seed):
    # plateaus (few levels) make many ties with the bounds; seeds repeat and share regions
    rng = np.random.default_rng(seed)
    image = rng.random(shape).astype(np.float32)
    if levels:
        image = (np.floor(image * levels) / levels).astype(np.float32)
    seeds = np.stack([rng.integers(0, shape[0], n_seeds), rng.integers(0, shape[1], n_seeds)], 1)
    lower, upper = sorted(bounds)
    if rng.random() < 0.3:  # bounds exactly at pixel values
        lower, upper = sorted(float(v) for v in rng.choice(image.ravel(), 2))
    ours = steps.connected_threshold(image, seeds, lower, upper)
    assert ours.dtype == bool and ours.shape == image.shape
    if n_seeds:
        np.testing.assert_array_equal(ours, _sitk_grow(image, seeds, lower, upper))
    else:
        assert not ours.any()


def test_connected_threshold_with_unbounded_and_huge_bounds():
    image = np.random.default_rng(3).random((20, 30)).astype(np.float32)
    seeds = np.array([[0, 0], [19, 29]])
    for lower, upper in ((-np.inf, np.inf), (-1e39, 1e39), (0.5, 1e300), (2.0, 3.0)):
        ref = _sitk_grow(image, seeds, lower, upper)
        np.testing.assert_array_equal(steps.connected_threshold(image, seeds, lower, upper), ref)
    assert steps.connected_threshold(image, seeds, -np.inf, np.inf).all()


def test_top_n_points_when_the_sample_floor_misses():
    # bright only where the strided sample looks, so the sampled floor is too high for n
    rng = np.random.default_rng(16)
    flat = rng.random(224 * 224).astype(np.float32) * 0.1
    stride = flat.size // seeds._BRACKET_SAMPLE
    flat[::stride] = 1.0 + rng.permutation(flat[::stride].size).astype(np.float32)  # distinct
    x = flat.reshape(224, 224)
    for n in (1, 3, 15, 40, 200):
        np.testing.assert_array_equal(steps.top_n_points(x, n), _argpartition_top_n(x, n))
        assert seeds._distinct_top_n(flat, n) is not None
    flat[::stride] = 2.0  # ties at the cut, found among the candidates
    assert seeds._distinct_top_n(flat, 15) is None
    np.testing.assert_array_equal(steps.top_n_points(x, 15), _argpartition_top_n(x, 15))


def test_connected_threshold_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="backend must be"):
        steps.connected_threshold(np.zeros((3, 3), np.float32), [[0, 0]], 0, 1, backend="itk")
