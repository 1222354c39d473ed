"""The CAM head's ReLU is a module: hooks on it see exactly the CAM features (issue #12.3)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from hrcam.models import (
    HRCAM,
    build_classifier,
    build_expansion,
    load_checkpoint,
    low_res_cam,
    normalize_images,
    save_checkpoint,
)

SIZE = 32


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(3)
    return build_classifier("densenet_compact", num_classes=3).eval()


def test_cam_relu_is_a_module_whose_output_is_the_cam_features(classifier):
    assert isinstance(classifier.cam_relu, nn.ReLU)
    assert not classifier.cam_relu.inplace  # would overwrite cam_conv's output under a hook
    seen: list[torch.Tensor] = []
    handle = classifier.cam_relu.register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        x = normalize_images(torch.rand(2, 3, SIZE, SIZE))
        with torch.no_grad():
            out = classifier.forward_features(x)
    finally:
        handle.remove()
    assert len(seen) == 1
    assert torch.equal(seen[0], out.cam_features)
    assert out.cam_features.min() >= 0


def test_state_dict_keys_unchanged_so_old_checkpoints_load(tmp_path, classifier):
    keys = set(classifier.state_dict())
    assert not any(k.startswith("cam_relu") for k in keys)
    # A classifier saved before the head had its ReLU module has exactly these keys.
    old = build_classifier("densenet_compact", num_classes=3)
    del old.cam_relu
    assert set(old.state_dict()) == keys
    model = HRCAM(classifier, build_expansion(classifier, image_size=SIZE)).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, metadata={"image_size": SIZE})
    loaded = load_checkpoint(path).model().eval()
    x = normalize_images(torch.rand(1, 3, SIZE, SIZE))
    with torch.no_grad():
        torch.testing.assert_close(loaded.classifier(x), classifier(x), rtol=0, atol=0)


@pytest.mark.slow
def test_grad_cam_on_cam_relu_equals_resized_relu_cam(classifier, minmax):
    """grad-cam's GradCAM on the ReLU module is relu(CAM) resized (its weights are w_k/hw):
    checked to float32 rounding, with the CAM computed by hrcam and resized by OpenCV the way
    grad-cam resizes."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from hrcam.methods import pixel_space_model

    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    targets = [0, 1, 2]
    with torch.no_grad():
        out = classifier.forward_features(normalize_images(images))
    cam = low_res_cam(out.cam_features, classifier.fc.weight, targets).numpy()
    expected = minmax(np.stack([cv2.resize(minmax(np.maximum(c, 0)), (SIZE, SIZE)) for c in cam]))
    wrapped = pixel_space_model(classifier)
    with GradCAM(model=wrapped, target_layers=[classifier.cam_relu]) as grad_cam:
        got = grad_cam(images, targets=[ClassifierOutputTarget(t) for t in targets])
    assert np.abs(minmax(got) - expected).max() < 1e-5
    # The pre-ReLU conv output is not the CAM features (the old, function-call ReLU).
    with GradCAM(model=wrapped, target_layers=[classifier.cam_conv]) as grad_cam:
        pre = grad_cam(images, targets=[ClassifierOutputTarget(t) for t in targets])
    assert np.abs(minmax(pre) - expected).max() > 1e-3
