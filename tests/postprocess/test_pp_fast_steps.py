"""The hand-written fast steps give the same numbers as the library calls they replace."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import local_maxima as sk_local_maxima
from skimage.morphology import remove_small_holes

from hrcam.postprocess import steps
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
        g_rows, g_cols = steps._sobel_derivatives(x)
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


def test_map_points_sorted_unique_like_numpy_unique():
    rng = np.random.default_rng(5)
    pts = rng.integers(0, 7, size=(40, 2))
    ours = steps.map_points(pts, (7, 7), (20, 30))
    scale = np.array([20 / 7, 30 / 7])
    ref = np.clip(np.rint((pts + 0.5) * scale - 0.5).astype(np.intp), 0, [19, 29])
    np.testing.assert_array_equal(ours, np.unique(ref, axis=0))
