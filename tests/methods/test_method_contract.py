"""The contract every registered saliency method keeps, checked for each one.

As torchvision's ``test_models.py`` does for every registered model, each method of the
registry gets the same basic checks for free: output shape and dtype, the [0, 1] range, no
NaN, maps on the host with the model left on its device, the same maps on a second call, the
input left untouched, and a clear refusal of a class index the classifier does not have. A
method registered later is picked up automatically.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from hrcam.methods import build_methods
from hrcam.methods.registry import runnable_method_names

SIZE = 32
NUM_CLASSES = 3  # the classes of the conftest's model
NUM_IMAGES = 2  # read by the conftest's images fixture


@pytest.mark.parametrize("name", runnable_method_names())
def test_method_contract(model, images, name):
    (method,) = build_methods(model, [name], score_cam_batch_size=8, workers=1).values()
    before, device = images.clone(), next(model.parameters()).device
    first = method(images, [1, 2])
    assert torch.equal(images, before), "the method changed its input"
    # Maps come back on the host whatever the model's device, and the model stays put.
    assert next(model.parameters()).device == device, "the method moved the model"
    maps = first.maps
    assert isinstance(maps, np.ndarray) and maps.dtype == np.float32
    assert maps.shape == (2, SIZE, SIZE)
    assert np.isfinite(maps).all()
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    for key, value in first.info.items():
        assert len(value) == 2, f"info {key!r} has no entry per image"
    again = method(images, [1, 2]).maps
    np.testing.assert_allclose(again, maps, atol=1e-5, err_msg="not deterministic")
    # One image alone gives the map it gets in a batch (no leak between images).
    alone = method(images[1:], [2]).maps
    np.testing.assert_allclose(alone[0], maps[1], atol=1e-4)
    with pytest.raises(ValueError, match=re.escape(f"{name}: class index {NUM_CLASSES} is out")):
        method(images, [0, NUM_CLASSES])
    with pytest.raises(ValueError, match="out of range"):
        method(images, [-1, 0])
