"""ADCC (Poppi et al. 2021) on a constructed case computed by hand."""

import math

import numpy as np
import pytest
import torch

from hrcam.metrics import adcc, adcc_from_terms, coherency


class MeanModel(torch.nn.Module):
    """Logits ``[a * mean(x), 0]``: the class-0 probability is ``sigmoid(a * mean(x))``."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a

    def forward(self, x):
        m = self.a * x.mean(dim=(1, 2, 3))
        return torch.stack([m, torch.zeros_like(m)], dim=1)


def test_adcc_constructed_case():
    images = torch.ones(1, 3, 8, 8)
    half = np.zeros((1, 8, 8), np.float32)
    half[:, :4] = 1.0  # keeps the top half: the masked image's mean is 0.5

    def explain(x, targets):  # the same map whatever the image: coherency 1
        return half.copy()

    scores = adcc(MeanModel(2.0), explain, images, half, [0])
    # By hand: Y = sigmoid(2) = 0.880797, O = sigmoid(1) = 0.731059, drop = 0.170003;
    # complexity = 0.5; coherency = 1; ADCC = 3 / (1/1 + 1/0.5 + 1/0.829997) = 0.713466.
    assert scores.drop[0] == pytest.approx(0.170003, abs=1e-5)
    assert scores.complexity[0] == pytest.approx(0.5)
    assert scores.coherency[0] == pytest.approx(1.0)
    assert scores.adcc[0] == pytest.approx(0.713466, abs=1e-5)
    assert scores.increase[0] == 0.0
    assert scores.summary()["adcc"] == pytest.approx(71.3466, abs=1e-3)


def test_harmonic_mean_and_its_edges():
    assert adcc_from_terms([0.0], [1.0], [0.0])[0] == pytest.approx(1.0)
    # Any term at its worst makes the image's ADCC 0.
    assert adcc_from_terms([1.0, 0.2], [0.9, 0.0], [0.1, 0.3]).tolist() == [0.0, 0.0]
    expected = 3 / (1 / 0.6 + 1 / 0.7 + 1 / 0.8)
    assert adcc_from_terms([0.2], [0.6], [0.3])[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adcc_from_terms([1.5], [0.5], [0.5])


def test_coherency_is_pearson_mapped_to_unit_interval():
    a = np.arange(16, dtype=float).reshape(1, 4, 4)
    assert coherency(a, 2 * a + 1)[0] == pytest.approx(1.0)
    assert coherency(a, -a)[0] == pytest.approx(0.0)
    assert coherency(a, np.zeros_like(a))[0] == pytest.approx(0.5)  # flat: rho = 0
    b = np.array([[[1.0, 2.0], [3.0, 5.0]]])
    c = np.array([[[2.0, 1.0], [4.0, 3.0]]])
    rho = np.corrcoef(b.ravel(), c.ravel())[0, 1]
    assert coherency(b, c)[0] == pytest.approx((1 + rho) / 2)
    assert not math.isnan(rho)


# --------------------------------------------------------------- edges (issue #33 item 8)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_coherency_refuses_non_finite_maps(bad):
    maps = np.random.default_rng(0).random((2, 4, 4))
    broken = maps.copy()
    broken[1, 2, 3] = bad
    with pytest.raises(ValueError, match=r"maps holds NaN or infinite values \(images \[1\]\)"):
        coherency(broken, maps)  # was 0.5 for the broken image, as if it were flat
    with pytest.raises(ValueError, match="maps_of_explanation holds NaN or infinite"):
        coherency(maps, broken)


def test_zero_images_get_a_clear_error_not_a_numpy_one():
    with pytest.raises(ValueError, match="ADCC needs at least one image"):
        adcc_from_terms([], [], [])
    with pytest.raises(ValueError, match="coherency needs at least one image"):
        coherency(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)))
    with pytest.raises(ValueError, match="coherency needs at least one image"):
        coherency(np.zeros((2, 0, 4)), np.zeros((2, 0, 4)))
