"""hrcam's maps and grad-cam's baselines through one interface, on a tiny untrained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrcam.methods import (
    ALL_METHODS,
    build_methods,
    gradcam_method,
    hrcam_methods,
    normalize_maps,
    pixel_space_model,
)
from hrcam.models import (
    HRCAM,
    build_classifier,
    build_expansion,
    high_res_cam,
    low_res_cam,
    normalize_images,
)
from hrcam.postprocess import refine

SIZE = 32


def test_pixel_space_model_normalises_inside(model, images):
    wrapped = pixel_space_model(model.classifier)
    with torch.no_grad():
        expected = model.classifier(normalize_images(images))
        got = wrapped(images)
    torch.testing.assert_close(got, expected)


@pytest.mark.slow
def test_hrcam_adapters_match_direct_computation(model, images):
    from skimage.transform import resize

    targets = [0, 2, 1]
    methods = hrcam_methods(model)
    with torch.no_grad():
        out = model(normalize_images(images))
    low = low_res_cam(out.cam_features, model.classifier.fc.weight, targets).numpy()
    high = high_res_cam(out.hr_features, model.classifier.fc.weight, targets).numpy()

    got_low = methods["low_res_cam"](images, targets).maps
    expected_low = normalize_maps(
        np.stack([resize(m, (SIZE, SIZE), order=1, mode="edge", anti_aliasing=False) for m in low])
    )
    np.testing.assert_allclose(got_low, expected_low, atol=1e-5)
    np.testing.assert_allclose(methods["high_res_cam"](images, targets).maps, normalize_maps(high))

    refined = methods["refined_reference"](images, targets)
    direct = [refine(lo, hi, "reference") for lo, hi in zip(low, high, strict=True)]
    np.testing.assert_allclose(refined.maps, normalize_maps(np.stack([r.refined for r in direct])))
    np.testing.assert_array_equal(refined.info["fallback"], [r.used_fallback for r in direct])


@pytest.mark.slow
def test_gradcam_and_layercam_on_cam_head_equal_the_cam(images):
    """On GAP + FC, with the head's ReLU passing everything, Grad-CAM and LayerCAM at the CAM
    head reduce to the (bilinearly resized) CAM: checks target layer, wrapper and gradients."""
    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    with torch.no_grad():
        clf.cam_conv.bias += 20.0  # every pre-ReLU activation positive
        clf.fc.weight.abs_()  # CAM positive everywhere, so Grad-CAM's ReLU is a no-op
    model = HRCAM(clf, build_expansion(clf, image_size=SIZE)).eval()
    targets = [0, 1, 2]
    cam = hrcam_methods(model, ["low_res_cam"])["low_res_cam"](images, targets).maps
    for name in ("gradcam", "layercam"):
        maps = gradcam_method(model.classifier, name)(images, targets).maps
        # grad-cam resizes with OpenCV; hrcam with its own bilinear: same up to rounding.
        np.testing.assert_allclose(maps, cam, atol=2e-3, err_msg=name)


@pytest.mark.slow
def test_every_method_returns_normalised_maps(model, images):
    from hrcam.methods.registry import runnable_method_names

    methods = build_methods(model, score_cam_batch_size=8)
    # The default list: every method but those that run only when named.
    assert list(methods) == list(runnable_method_names())
    assert {"sess", "featup_jbu"} <= set(ALL_METHODS) - set(methods)
    for name, method in methods.items():
        result = method(images[:2], [1, 2])
        assert result.maps.shape == (2, SIZE, SIZE), name
        assert result.maps.dtype == np.float32, name
        assert result.maps.min() == 0.0 and result.maps.max() == 1.0, name
    # Score-CAM differs from Grad-CAM: it weights channels by masked-forward scores.
    score = methods["scorecam"](images[:2], [1, 2]).maps
    grad = methods["gradcam"](images[:2], [1, 2]).maps
    assert np.abs(score - grad).max() > 1e-3


def test_bad_method_and_batch_are_named(model, images):
    with pytest.raises(ValueError, match="unknown method"):
        build_methods(model, ["gradcam", "rise"])
    with pytest.raises(ValueError, match="repeat"):
        build_methods(model, ["gradcam", "gradcam"])
    method = hrcam_methods(model, ["low_res_cam"])["low_res_cam"]
    with pytest.raises(ValueError, match="targets"):
        method(images, [0])
    with pytest.raises(ValueError, match="floats"):
        method((images * 255).to(torch.uint8), [0, 0, 0])
