"""The untrained tiny HRCAM model and the random images the method tests share.

Each test module says its image side in ``SIZE`` (and, where it differs from 3, how many
images in ``NUM_IMAGES``); the model has 3 classes. Both are module-scoped: built once per
module, with the same seeds in every module.
"""

from __future__ import annotations

import pytest
import torch

from hrcam.models import HRCAM, build_classifier, build_expansion


@pytest.fixture(scope="module")
def model(request) -> HRCAM:
    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    return HRCAM(clf, build_expansion(clf, image_size=request.module.SIZE)).eval()


@pytest.fixture(scope="module")
def images(request) -> torch.Tensor:
    size, count = request.module.SIZE, getattr(request.module, "NUM_IMAGES", 3)
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(1))
