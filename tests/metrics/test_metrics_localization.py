"""Pointing game, mask IoU, PxAP and MaxBoxAccV2 against hand-computed cases and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from hrcam.metrics import (
    DEFAULT_THRESHOLDS,
    best_mask_iou,
    box_iou,
    box_iou_curve,
    boxes_from_binary,
    energy_pointing_game,
    iou_curve,
    max_box_acc,
    normalize_map,
    pixel_counts,
    pointing_game,
    pxap,
)


def _square_mask() -> np.ndarray:
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[1:3, 1:3] = 1
    return mask


# -- pointing game ------------------------------------------------------------------------


def test_pointing_game_hit_miss_and_tolerance():
    mask = _square_mask()
    cam = np.zeros((4, 4))
    cam[1, 1] = 1.0
    assert pointing_game(cam, mask) == 1.0
    cam = np.zeros((4, 4))
    cam[0, 0] = 1.0  # sqrt(2) px from the nearest object pixel (1, 1)
    assert pointing_game(cam, mask) == 0.0
    assert pointing_game(cam, mask, tolerance=1.0) == 0.0
    assert pointing_game(cam, mask, tolerance=1.5) == 1.0


def test_pointing_game_hit_exactly_at_the_tolerance():
    # Euclidean distance from the maximum (0, 0) to the object pixel (0, 3) is exactly 3.
    cam = np.zeros((5, 5))
    cam[0, 0] = 1.0
    mask = np.zeros((5, 5), bool)
    mask[0, 3:] = True
    assert pointing_game(cam, mask, tolerance=3.0) == 1.0
    assert pointing_game(cam, mask, tolerance=2.99) == 0.0


def test_pointing_game_ties_score_share_of_maxima():
    mask = _square_mask()
    assert pointing_game(np.ones((4, 4)), mask) == pytest.approx(4 / 16)
    cam = np.zeros((4, 4))
    cam[1, 2] = cam[3, 3] = 2.0
    assert pointing_game(cam, mask) == pytest.approx(0.5)


def test_energy_pointing_game_hand_computed_and_offset_invariant():
    mask = _square_mask()
    cam = np.zeros((4, 4))
    cam[1:3, 1:3] = 1.0
    cam[0, 3] = 2.0  # normalised: object 4 x 0.5 = 2, background 1 -> 2/3
    assert energy_pointing_game(cam, mask) == pytest.approx(2 / 3)
    assert energy_pointing_game(cam - 5.0, mask) == pytest.approx(2 / 3)
    assert energy_pointing_game(np.full((4, 4), 3.0), mask) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("cam", "mask", "message"),
    [
        (np.zeros((4, 4)), np.zeros((4, 4)), "no object"),
        (np.zeros((4, 4)), np.ones((3, 4)), "mask has shape"),
        (np.zeros((2, 4, 4)), np.ones((4, 4)), "2-D"),
        (np.full((4, 4), np.nan), np.ones((4, 4)), "NaN"),
    ],
)
def test_pointing_bad_input_is_named(cam, mask, message):
    with pytest.raises(ValueError, match=message):
        pointing_game(cam, mask)
    with pytest.raises(ValueError, match=message):
        energy_pointing_game(cam, mask)


# -- masks ----------------------------------------------------------------------------------


def _ramp_case() -> tuple[np.ndarray, np.ndarray]:
    cam = np.array([[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]])
    mask = np.array([[0, 0, 1], [0, 1, 1]])
    return cam, mask


def test_pixel_counts_and_iou_hand_computed():
    cam, mask = _ramp_case()
    counts = pixel_counts(cam, mask, [0.0, 0.5, 0.9])
    np.testing.assert_array_equal(counts.tp, [3, 2, 1])
    np.testing.assert_array_equal(counts.fp, [3, 1, 0])
    assert (counts.num_pos, counts.num_neg) == (3, 3)
    np.testing.assert_allclose(iou_curve(cam, mask, [0.0, 0.5, 0.9]), [3 / 6, 2 / 4, 1 / 3])
    iou, threshold = best_mask_iou(cam, mask, [0.0, 0.3, 0.5, 0.9])
    # t=0.3 keeps {.4, .6, .8, 1.0}: tp 3, fp 1 -> IoU 3/4.
    assert (iou, threshold) == (pytest.approx(0.75), 0.3)


def test_pxap_hand_computed_on_grid():
    cam, mask = _ramp_case()
    # Grid 0, .5, .9 plus the end point 1.0, descending: t=1 P=1 R=1/3; t=.9 the same;
    # t=.5 P=2/3 R=2/3; t=0 P=1/2 R=1.
    expected = 1 / 3 * 1.0 + 1 / 3 * 2 / 3 + 1 / 3 * 1 / 2
    assert pxap(cam, mask, [0.0, 0.5, 0.9]) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(5))
def test_pxap_with_exact_thresholds_is_sklearn_average_precision(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((12, 10)) < 0.3
    mask[0, 0] = True
    cam = rng.normal(size=(12, 10)) + 1.5 * mask
    cam = np.round(cam, 1)  # ties, as in real upsampled maps
    exact = np.unique(normalize_map(cam))
    ours = pxap(cam, mask, exact)
    theirs = average_precision_score(mask.ravel(), cam.ravel())
    assert ours == pytest.approx(theirs, abs=1e-12)
    # The default 100-step grid approximates it.
    assert pxap(cam, mask) == pytest.approx(theirs, abs=0.03)


def test_perfect_map_scores_one():
    mask = _square_mask()
    assert pxap(mask.astype(float), mask) == pytest.approx(1.0)
    assert best_mask_iou(mask.astype(float), mask)[0] == pytest.approx(1.0)


def test_threshold_grid_validation():
    cam, mask = _ramp_case()
    with pytest.raises(ValueError, match="increasing"):
        pxap(cam, mask, [0.5, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        iou_curve(cam, mask, [0.0, 1.5])
    assert DEFAULT_THRESHOLDS.size == 100


# -- boxes ----------------------------------------------------------------------------------


def test_box_iou_hand_computed():
    iou = box_iou([[0, 0, 2, 2], [1, 1, 3, 3]], [[1, 1, 3, 3]])
    np.testing.assert_allclose(iou[:, 0], [1 / 7, 1.0])
    with pytest.raises(ValueError, match="x1 >= x0"):
        box_iou([3, 0, 1, 2], [0, 0, 1, 1])


def test_box_iou_curve_uses_all_contours():
    cam = np.zeros((10, 10))
    cam[1:3, 1:3] = 1.0  # strongest blob, off the object
    cam[5:8, 5:8] = 0.5  # weaker blob = the object
    curve = box_iou_curve(cam, (5, 5, 8, 8), [0.0, 0.4, 0.9])
    # t=0: the whole image is one box (9/100); t=.4: both blobs, the second matches; t=.9: off.
    np.testing.assert_allclose(curve, [0.09, 1.0, 0.0])


def test_ring_gives_outer_and_hole_boxes():
    binary = np.zeros((9, 9), dtype=np.uint8)
    binary[1:8, 1:8] = 1
    binary[3:6, 3:6] = 0
    boxes = boxes_from_binary(binary)
    assert boxes.shape == (2, 4)
    outer = boxes[np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))]
    np.testing.assert_array_equal(outer, [1, 1, 8, 8])
    inner = boxes[np.argmin((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))]
    assert np.all(inner[:2] > outer[:2]) and np.all(inner[2:] < outer[2:])


def test_max_box_acc_hand_computed():
    curves = [[0.2, 0.6, 0.8], [0.75, 0.4, 0.1]]
    result = max_box_acc(curves, [0.0, 0.5, 0.9])
    assert result.per_iou == {0.3: 1.0, 0.5: 0.5, 0.7: 0.5}
    assert result.best_thresholds[0.3] == 0.5
    assert result.value == pytest.approx(2 / 3)
    np.testing.assert_allclose(result.box_acc[0], [0.5, 1.0, 0.5])
    with pytest.raises(ValueError, match="iou_curves must have shape"):
        max_box_acc(curves)  # grid of 100 does not match 3 columns
