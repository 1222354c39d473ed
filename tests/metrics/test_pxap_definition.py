"""PxAP as Choe et al. (CVPR 2020) define it: one precision-recall curve for the whole data set.

The reference here is written in the test from the paper and its ``MaskEvaluator``: scores are
binned into histograms at the thresholds ``[0, .01, ..., .99, 1, 2, 3]``, the histograms are
summed over images, reversed cumulative sums give TP and FP, and the area is
``(precision[1:] * diff(recall))[non_zero[1:]].sum()`` where ``non_zero`` marks the thresholds
at which something is predicted. It shares no code with hrcam's implementation.
"""

from __future__ import annotations

import numpy as np
import pytest

from hrcam.evaluate import summary_rows
from hrcam.evaluate.scoring import append_counts, mask_scores, pack_curves
from hrcam.metrics import DEFAULT_THRESHOLDS, dataset_pxap, image_ap


def _choe_normalize(cam: np.ndarray) -> np.ndarray:
    cam = cam.astype(np.float64).copy()
    if np.isnan(cam).any() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    return cam / cam.max()


def choe_pxap(cams: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """wsolevaluation's MaskEvaluator, accumulate() then compute(), without the x100."""
    edges = np.append(np.arange(0, 1, 0.01), [1.0, 2.0, 3.0])
    true_hist = np.zeros(edges.size - 1)
    false_hist = np.zeros(edges.size - 1)
    for cam, mask in zip(cams, masks, strict=True):
        score = _choe_normalize(cam)
        true_hist += np.histogram(score[mask == 1], bins=edges)[0]
        false_hist += np.histogram(score[mask == 0], bins=edges)[0]
    tp = true_hist[::-1].cumsum()
    fp = false_hist[::-1].cumsum()
    fn = true_hist.sum() - tp
    non_zero = (tp + fp) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
    return float((precision[1:] * np.diff(recall))[non_zero[1:]].sum())


def test_two_images_where_the_mean_of_per_image_ap_and_pxap_differ():
    # Image A: a large object (8 of 16 pixels) found perfectly. Image B: a 1-pixel object
    # whose map ranks it below 3 background pixels. Both maps are already in [0, 1].
    cam_a = np.array([[1.0] * 4, [1.0] * 4, [0.0] * 4, [0.0] * 4])
    mask_a = (cam_a > 0.5).astype(np.uint8)
    cam_b = np.zeros((4, 4))
    cam_b[0, :3] = 1.0
    cam_b[0, 3] = 0.5
    mask_b = np.zeros((4, 4), np.uint8)
    mask_b[0, 3] = 1
    # Per image: A is 1. B: TP appears at t <= .5 only, with 3 FP: P = 1/4, R 0 -> 1: AP = 1/4.
    assert image_ap(cam_a, mask_a) == pytest.approx(1.0)
    assert image_ap(cam_b, mask_b) == pytest.approx(0.25)
    # Data set: at t in (.5, 1]: TP 8, FP 3 -> P 8/11, R 8/9; at t <= .5: TP 9, FP 3 -> P 9/12,
    # R 1. Area = 8/9 * 8/11 + 1/9 * 3/4.
    expected = 8 / 9 * 8 / 11 + 1 / 9 * 3 / 4
    assert dataset_pxap([cam_a, cam_b], [mask_a, mask_b]) == pytest.approx(expected)
    assert choe_pxap([cam_a, cam_b], [mask_a, mask_b]) == pytest.approx(expected)
    assert expected != pytest.approx((1.0 + 0.25) / 2, abs=0.01)


@pytest.mark.parametrize("seed", range(6))
def test_dataset_pxap_agrees_with_choe_et_al_on_random_maps(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    shape = (int(rng.integers(5, 30)), int(rng.integers(5, 30)))
    masks = [(rng.random(shape) < rng.uniform(0.05, 0.6)).astype(np.uint8) for _ in range(n)]
    masks[0][0, 0] = 1
    # Smooth maps with ties and exact maxima, plus one constant map (normalised to zeros).
    cams = [np.round(rng.normal(size=shape) + 2 * m, int(rng.integers(1, 4))) for m in masks]
    if n > 2:
        cams[1] = np.full(shape, 3.0)
    ours = dataset_pxap(cams, masks)
    assert ours == pytest.approx(choe_pxap(cams, masks), abs=1e-9)


def test_evaluator_summary_is_the_dataset_pxap():
    rng = np.random.default_rng(3)
    masks = [rng.random((16, 16)) < 0.3 for _ in range(7)]
    cams = [rng.normal(size=(16, 16)) + 1.2 * m for m in masks]
    curves: dict = {"mask_iou": [], "box_iou": [], "index": []}
    records = []
    for i, (cam, mask) in enumerate(zip(cams, masks, strict=True)):
        scores, iou, counts = mask_scores(cam, mask, DEFAULT_THRESHOLDS)
        append_counts(curves, counts)
        curves["mask_iou"].append(iou)
        curves["box_iou"].append(np.zeros_like(iou))
        curves["index"].append(i)
        records.append({"index": i, "method": "m", **scores})
    packed = {"m": pack_curves(curves, DEFAULT_THRESHOLDS.size)}
    rows = summary_rows(records, packed, ["m"], n_boot=200, metrics=("pxap",))
    (row,) = [r for r in rows if r["metric"] == "pxap"]
    assert row["mean"] == pytest.approx(choe_pxap(cams, [m.astype(np.uint8) for m in masks]),
                                        abs=1e-9)  # fmt: skip
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    # The mean of per-image APs is kept apart, under its own name.
    mean_ap = np.mean([image_ap(c, m) for c, m in zip(cams, masks, strict=True)])
    rows = summary_rows(records, packed, ["m"], n_boot=200, metrics=("image_ap",))
    assert rows[0]["metric"] == "image_ap"
    assert rows[0]["mean"] == pytest.approx(mean_ap)


def test_a_grid_that_already_ends_at_one_keeps_one_row_per_image():
    grid = np.linspace(0.0, 1.0, 5)  # its own end point 1.0: nothing is appended
    rng = np.random.default_rng(0)
    curves: dict = {"mask_iou": [], "box_iou": [], "index": []}
    masks = [rng.random((8, 8)) < 0.4 for _ in range(6)]
    cams = [rng.random((8, 8)) + m for m in masks]
    for i, (cam, mask) in enumerate(zip(cams, masks, strict=True)):
        _, iou, counts = mask_scores(cam, mask, grid)
        append_counts(curves, counts)
        curves["mask_iou"].append(iou)
        curves["box_iou"].append(iou)
        curves["index"].append(i)
    packed = pack_curves(curves, grid.size)
    assert packed["pixel_tp"].shape == (6, 5)
    tp, fp = packed["pixel_tp"].sum(0), packed["pixel_fp"].sum(0)
    from hrcam.metrics import pxap_from_counts

    assert pxap_from_counts(tp, fp, packed["pixel_pos"].sum()) == pytest.approx(
        dataset_pxap(cams, masks, grid)
    )
