"""Choosing the illustrative example for the paper's figures."""

import numpy as np
import pytest


def _fake_explanation(label: int, probability: float, fallback: str | None):
    from types import SimpleNamespace

    from hrcam.explain import Explanation

    return Explanation(
        label=label,
        probability=probability,
        low_res_cam=np.zeros((2, 2), np.float32),
        high_res_cam=np.zeros((8, 8), np.float32),
        refinement=SimpleNamespace(fallback=fallback),
        predicted=label,
    )


def test_select_example_prefers_confident_correct_with_successful_growing():
    from hrcam.plotting import select_example

    exps = [
        _fake_explanation(1, 0.9, None),  # wrong class
        _fake_explanation(0, 0.3, None),  # right but unsure
        _fake_explanation(0, 0.8, "too_small"),  # right, growing failed
        _fake_explanation(0, 0.8, None),  # the one
    ]
    assert select_example(exps, [0, 0, 0, 0]) == 3
    # Without such an image: the first correct one; without any correct one: image 0.
    assert select_example(exps[:3], [0, 0, 0]) == 1
    assert select_example(exps[:1], [0]) == 0
    with pytest.raises(ValueError, match="labels has 2 entries"):
        select_example(exps, [0, 0])
    with pytest.raises(ValueError, match="empty"):
        select_example([], [])
