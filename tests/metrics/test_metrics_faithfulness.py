"""Confidence change against grad-cam's metric; deletion/insertion on a hand-analysable model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hrcam.metrics import confidence_change, deletion_insertion, normalize_map, road

EPS = 1e-6


class ObjectMeanModel(nn.Module):
    """Two classes; P(class 0) = (m + eps) / (1 + 2 eps), m = mean of channel 0 on the object."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[:, 0, :2, :2].mean(dim=(1, 2))
        return torch.stack([torch.log(m + EPS), torch.log(1 - m + EPS)], dim=1)


def _p(m: float) -> float:
    return (m + EPS) / (1 + 2 * EPS)


def _object_image() -> tuple[torch.Tensor, np.ndarray]:
    image = torch.zeros(1, 3, 4, 4)
    image[:, :, :2, :2] = 1.0
    cam = np.zeros((1, 4, 4))
    cam[0, :2, :2] = 1.0
    return image, cam


@pytest.mark.slow
def test_confidence_change_matches_grad_cam():
    from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence, IncreaseInConfidence
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    ).eval()
    images = torch.rand(6, 3, 16, 16)
    rng = np.random.default_rng(0)
    cams = np.stack([normalize_map(c) for c in rng.random((6, 16, 16))]).astype(np.float32)
    classes = [0, 1, 2, 3, 4, 0]
    ours = confidence_change(model, images, cams, classes, batch_size=4)
    targets = [ClassifierOutputSoftmaxTarget(c) for c in classes]
    drop = DropInConfidence()(images, cams, targets, model)
    increase = IncreaseInConfidence()(images, cams, targets, model)
    # grad-cam's drop is max(0, Y - O); the Grad-CAM++ average drop divides by Y.
    np.testing.assert_allclose(ours.drop * ours.base, drop, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(ours.increase, increase)
    assert ours.average_drop == pytest.approx(100 * np.mean(drop / ours.base), rel=1e-4)


def test_confidence_change_hand_computed():
    image, cam = _object_image()
    result = confidence_change(ObjectMeanModel(), image, cam, [0])
    assert result.drop[0] == pytest.approx(0.0, abs=1e-9)  # the map keeps the whole object
    half = cam * 0.0
    half[0, 0, :2] = 1.0  # keeps half the object -> m = 0.5
    result = confidence_change(ObjectMeanModel(), image, half, [0])
    assert result.masked[0] == pytest.approx(_p(0.5), rel=1e-5)
    assert result.drop[0] == pytest.approx((_p(1) - _p(0.5)) / _p(1), rel=1e-5)
    assert result.average_drop == pytest.approx(100 * result.drop[0])
    assert result.increase_in_confidence == 0.0


def test_deletion_insertion_hand_computed():
    image, cam = _object_image()
    model = ObjectMeanModel()
    good = deletion_insertion(model, image, cam, [0], steps=4)
    np.testing.assert_allclose(good.fractions, [0, 0.25, 0.5, 0.75, 1.0])
    # Object first: gone after the first step.
    np.testing.assert_allclose(good.deletion_curve[0], [_p(1)] + [_p(0)] * 4, rtol=1e-5)
    expected = 0.25 * (_p(1) + _p(0)) / 2 + 0.75 * _p(0)
    assert good.deletion_auc[0] == pytest.approx(expected, rel=1e-5)
    # Insertion: blurred start loses some of the object; inserting it first restores it.
    assert good.insertion_curve[0, 0] < _p(1) - 0.05
    np.testing.assert_allclose(good.insertion_curve[0, 1:], _p(1), rtol=1e-5)

    bad = deletion_insertion(model, image, 1.0 - cam, [0], steps=4)
    np.testing.assert_allclose(bad.deletion_curve[0], [_p(1)] * 4 + [_p(0)], rtol=1e-5)
    assert bad.deletion_auc[0] == pytest.approx(0.75 * _p(1) + 0.25 * (_p(1) + _p(0)) / 2)
    assert bad.insertion_auc[0] < good.insertion_auc[0]


def test_flat_map_tie_break_is_seeded():
    image, _ = _object_image()
    flat = np.zeros((1, 4, 4))
    a = deletion_insertion(ObjectMeanModel(), image, flat, [0], steps=8, seed=3)
    b = deletion_insertion(ObjectMeanModel(), image, flat, [0], steps=8, seed=3)
    np.testing.assert_array_equal(a.deletion_curve, b.deletion_curve)
    # Random order removes the object gradually, not in raster order (which would remove
    # the 2x2 object within the first 6 of 16 pixels).
    assert np.all(np.diff(a.deletion_curve[0]) <= 1e-9)


def test_bad_inputs_are_named():
    image, cam = _object_image()
    with pytest.raises(ValueError, match="cams must have shape"):
        confidence_change(ObjectMeanModel(), image, cam[0], [0])
    with pytest.raises(ValueError, match="targets"):
        deletion_insertion(ObjectMeanModel(), image, cam, [0, 1])
    with pytest.raises(ValueError, match="steps"):
        deletion_insertion(ObjectMeanModel(), image, cam, [0], steps=0)
    with pytest.raises(ValueError, match="images"):
        confidence_change(ObjectMeanModel(), image.numpy(), cam, [0])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning")
def test_road_matches_grad_cam_road_combined():
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()  # fmt: skip
    images = torch.rand(3, 3, 12, 12)
    cams = np.random.default_rng(1).random((3, 12, 12)).astype(np.float32)
    classes = [0, 3, 1]
    state = torch.get_rng_state()
    ours = road(model, images, cams, classes, percentiles=(30, 70), seed=5)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    torch.manual_seed(5)
    theirs = ROADCombined(percentiles=[30, 70])(
        images, cams, [ClassifierOutputSoftmaxTarget(c) for c in classes], model
    )
    np.testing.assert_allclose(ours.combined, theirs, rtol=1e-5, atol=1e-7)
    again = road(model, images, cams, classes, percentiles=(30, 70), seed=5)
    np.testing.assert_array_equal(again.morf, ours.morf)


@pytest.mark.slow
def test_road_rewards_the_map_on_the_object():
    image = torch.zeros(1, 3, 8, 8)
    image[:, :, :2, :2] = 1.0
    on_object = np.zeros((1, 8, 8), dtype=np.float32)
    on_object[0, :2, :2] = 1.0
    # Same pixels, opposite order: the object is now the least relevant region.
    on_background = 1.0 - on_object
    good = road(ObjectLogitModel(), image, on_object, [0], percentiles=(50, 80))
    bad = road(ObjectLogitModel(), image, on_background, [0], percentiles=(50, 80))
    # Removing the object (MoRF of the good map) takes P(class 0) from ~1 to ~0.5.
    assert good.morf[0] < -0.4 and abs(bad.morf[0]) < 0.05
    assert good.combined[0] > bad.combined[0] + 0.2


class ObjectLogitModel(nn.Module):
    """P(class 0) = sigmoid(8 m), m = mean of channel 0 on the top-left 2x2 object; finite for
    any input (ROAD's imputation adds noise, so m can leave [0, 1])."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[:, 0, :2, :2].mean(dim=(1, 2))
        return torch.stack([8.0 * m, torch.zeros_like(m)], dim=1)


def test_road_bad_percentiles_are_named():
    images, cams = torch.rand(1, 3, 4, 4), np.random.default_rng(0).random((1, 4, 4))
    for bad in ((), (0, 50), (50, 100)):
        with pytest.raises(ValueError, match="percentiles"):
            road(ObjectMeanModel(), images, cams, [0], percentiles=bad)
