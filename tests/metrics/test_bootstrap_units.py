"""Bootstrap intervals with known answers: level, coverage, units, crossed factors, pairing.

Every expected value here is derived without hrcam's statistics code: normal theory for the
half-width, simulated coverage of a known mean, and exact identities of resampling.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hrcam.metrics.statistics import (
    bootstrap_max_box_acc,
    bootstrap_mean_ci,
    bootstrap_pxap,
    paired_stat_ci,
    pxap_stats,
    resample_weights,
)


def test_interval_is_95_percent_by_normal_theory():
    # For a mean of 2,000 values the bootstrap distribution is normal to a fraction of a percent:
    # its 2.5/97.5% percentiles are mean -+ 1.96 * sd / sqrt(n) (90% would be 1.645: 16% less).
    values = np.random.default_rng(1).normal(size=2000)
    mean, low, high = bootstrap_mean_ci(values, n_boot=20000, seed=2)
    half = stats.norm.ppf(0.975) * values.std(ddof=0) / np.sqrt(values.size)
    assert (high - low) / 2 == pytest.approx(half, rel=0.04)
    assert mean == pytest.approx(values.mean())


def test_interval_covers_a_known_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    hits = 0
    reps = 400
    for k in range(reps):
        values = rng.normal(loc=3.0, size=60)
        _, low, high = bootstrap_mean_ci(values, n_boot=1000, seed=k)
        hits += low <= 3.0 <= high
    # Percentile intervals at n = 60 cover about 94%; a 90% interval would cover about 89%.
    assert 0.92 <= hits / reps <= 0.98


def test_unit_bootstrap_of_duplicated_images_equals_image_bootstrap_of_the_units():
    values = np.random.default_rng(0).normal(size=15)
    dup = np.repeat(values, 4)  # every unit shows up as 4 images
    units = np.repeat([f"stamp{k:02d}" for k in range(15)], 4)  # sorted like the values
    by_unit = bootstrap_mean_ci(dup, 500, seed=5, units=units)
    by_value = bootstrap_mean_ci(values, 500, seed=5)
    np.testing.assert_allclose(by_unit, by_value)
    # Treating the copies as independent narrows the interval about twofold (sqrt(4)).
    naive = bootstrap_mean_ci(dup, 500, seed=5)
    assert (naive[2] - naive[1]) < 0.65 * (by_value[2] - by_value[1])


def test_crossed_weights_are_the_product_of_both_draws():
    stamps = np.array(["a", "a", "b", "c"])
    backs = np.array(["x", "y", "y", "x"])
    w = resample_weights(4, 300, seed=3, units=stamps, crossed=backs)
    # Stamps are drawn first (3 of them), then backgrounds (2), from one seeded generator; an
    # image weighs (draws of its stamp) x (draws of its background).
    rng = np.random.default_rng(3)
    s_draws = rng.multinomial(3, [1 / 3] * 3, size=300)  # columns a, b, c
    b_draws = rng.multinomial(2, [1 / 2] * 2, size=300)  # columns x, y
    expected = np.stack(
        [
            s_draws[:, 0] * b_draws[:, 0],
            s_draws[:, 0] * b_draws[:, 1],
            s_draws[:, 1] * b_draws[:, 1],
            s_draws[:, 2] * b_draws[:, 0],
        ],
        axis=1,
    )
    np.testing.assert_array_equal(w, expected)


def test_max_box_acc_counts_an_iou_exactly_at_the_level():
    # One threshold; IoUs exactly 0.3, 0.5, 0.7 at the three levels: Choe et al. count
    # IoU >= delta as a hit, so each image hits the levels up to its own.
    curves = np.array([[0.3], [0.5], [0.7]])
    value, low, high = bootstrap_max_box_acc(curves, (0.3, 0.5, 0.7), n_boot=50, seed=0)
    # delta .3: 3/3; .5: 2/3; .7: 1/3 -> mean 2/3 (with '>' it would be (2/3+1/3+0)/3 = 1/3).
    assert value == pytest.approx(2 / 3)
    assert low <= value <= high


def test_paired_pxap_of_a_method_with_itself_is_exactly_zero():
    rng = np.random.default_rng(0)
    tp = rng.integers(0, 50, size=(9, 101)).cumsum(axis=1)[:, ::-1]
    fp = rng.integers(0, 50, size=(9, 101)).cumsum(axis=1)[:, ::-1]
    pos = tp[:, 0] + rng.integers(1, 5, size=9)
    d = paired_stat_ci(pxap_stats, (tp, fp, pos), (tp, fp, pos), n_boot=100, seed=1)
    assert d == (0.0, 0.0, 0.0)
    point, low, high = bootstrap_pxap(tp, fp, pos, n_boot=100, seed=1)
    assert low <= point <= high


def test_resample_weights_refuse_a_unit_list_of_the_wrong_length():
    with pytest.raises(ValueError, match="one unit label per image"):
        resample_weights(4, 10, seed=0, units=["a", "b"])
