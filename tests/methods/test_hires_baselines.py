"""High-resolution baselines (issue #12): each checked against its package on a known answer."""

from __future__ import annotations

import types

import cv2
import numpy as np
import pytest
import torch

from hrcam.extras import MissingExtraError
from hrcam.methods import ALL_METHODS, HIRES_METHODS, LABELS, build_methods, pixel_space_model
from hrcam.methods.hires import (
    StageTaps,
    crf_refine,
    fused_stages,
    guided_refine,
    hires_method,
    hirescam_stride,
    require_ximgproc,
)
from hrcam.models import (
    IMAGENET_MEAN,
    low_res_cam,
    normalize_images,
)

SIZE = 64


TARGETS = [0, 2, 1]


def _targets(targets):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    return [ClassifierOutputTarget(t) for t in targets]


def test_methods_are_registered_with_labels_and_in_cli_help(capsys):
    from hrcam.cli import main

    parts = ("cam_jbu", "layercam_fused", "refinecam", "fullgrad", "hirescam", "crf", "guided",
             "bilateral", "featup_jbu")  # fmt: skip
    for name, part in zip(HIRES_METHODS, parts, strict=True):
        assert part in name and name in ALL_METHODS and name in LABELS
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in HIRES_METHODS:
        assert name in help_text


def test_stage_taps_see_the_backbone_outputs(model, images):
    clf = model.classifier
    taps = StageTaps(clf)
    assert taps.strides == [2, 4, 8, 16]
    assert hirescam_stride(taps) == 4
    seen: dict[int, torch.Tensor] = {}
    handles = [
        t.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, o))
        for k, t in enumerate(taps.taps)
    ]
    x = normalize_images(images)
    with torch.no_grad(), taps.active():
        skips, final = clf.backbone(x)
    for h in handles:
        h.remove()
    for k, t in enumerate([*skips, final]):
        assert seen[k] is t
    with torch.no_grad():  # outside the context the taps are silent
        clf.backbone(x)
    assert len(seen) == 4
    with pytest.raises(ValueError, match="stride 3"):
        taps.stage(3)


@pytest.mark.slow
def test_layercam_fused_is_the_max_of_the_packages_per_stage_layercam(model, images, minmax):
    from pytorch_grad_cam import LayerCAM

    clf = model.classifier
    wrapped = pixel_space_model(clf)
    method = hires_method(model, "layercam_fused")
    got = method(images, TARGETS).maps
    taps = StageTaps(clf)
    layers = fused_stages(taps, clf)
    assert len(layers) == 3 and layers[-1] is clf.cam_relu
    per_layer = []
    with taps.active():
        for layer in layers:
            with LayerCAM(model=wrapped, target_layers=[layer]) as cam:
                per_layer.append(cam(images, targets=_targets(TARGETS)))
        with LayerCAM(model=wrapped, target_layers=layers) as cam:
            mean_fused = cam(images, targets=_targets(TARGETS))  # grad-cam's own aggregation
    expected = minmax(np.max(per_layer, axis=0))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert np.abs(got - minmax(mean_fused)).max() > 1e-2  # max, not grad-cam's mean


@pytest.mark.slow
def test_hirescam_equals_the_package_and_is_the_cam_at_the_head(model, images, minmax):
    from pytorch_grad_cam import HiResCAM

    clf = model.classifier
    wrapped = pixel_space_model(clf)
    got = hires_method(model, "hirescam")(images, TARGETS).maps
    taps = StageTaps(clf)
    with taps.active(), HiResCAM(model=wrapped, target_layers=[taps.stage(4)]) as cam:
        direct = cam(images, targets=_targets(TARGETS))
    np.testing.assert_allclose(got, minmax(direct), atol=1e-6)
    # Known answer: at the CAM head the gradient is w_k / (h w) everywhere, so HiResCAM there
    # is relu(CAM), resized the way grad-cam resizes (OpenCV bilinear).
    with HiResCAM(model=wrapped, target_layers=[clf.cam_relu]) as cam:
        head = cam(images, targets=_targets(TARGETS))
    with torch.no_grad():
        out = clf.forward_features(normalize_images(images))
    cams = low_res_cam(out.cam_features, clf.fc.weight, TARGETS).numpy()
    expected = np.stack([cv2.resize(minmax(np.maximum(c, 0)), (SIZE, SIZE)) for c in cams])
    assert np.abs(minmax(head) - minmax(expected)).max() < 1e-5


@pytest.mark.slow
def test_fullgrad_equals_the_package_and_its_parts_are_complete(model, images, minmax):
    """FullGrad pairs each Conv2d/BatchNorm2d bias with the gradient at that layer's output. On
    this piecewise-linear network the parts must add up to the logit (completeness, Srinivas &
    Fleuret 2019, eq. 3): logit = grad_x . (x - mean) + sum_l bias_l . grad_l + fc bias
    (the mean term: the normalisation inside the pixel-space model is affine too)."""
    from pytorch_grad_cam import FullGrad

    clf = model.classifier
    wrapped = pixel_space_model(clf)
    got = hires_method(model, "fullgrad")(images, TARGETS).maps
    with FullGrad(model=wrapped, target_layers=[]) as cam:
        direct = cam(images, targets=_targets(TARGETS))
        grads = [g.numpy() for g in cam.activations_and_grads.gradients]
        biases = cam.bias_data
    np.testing.assert_allclose(got, minmax(direct), atol=1e-6)
    assert len(grads) == len(biases) > 10
    x = images.clone().requires_grad_(True)
    logits = wrapped(x)
    logits[torch.arange(3), TARGETS].sum().backward()
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    total = ((x.grad * (images - mean)).sum(dim=(1, 2, 3))).double().numpy()
    for g, b in zip(grads, biases, strict=True):
        total += (g * b[None, :, None, None]).sum(axis=(1, 2, 3))
    total += clf.fc.bias.detach().numpy()[TARGETS]
    np.testing.assert_allclose(total, logits[torch.arange(3), TARGETS].detach().numpy(), atol=1e-4)


def test_crf_without_pairwise_terms_returns_the_unary():
    rng = np.random.default_rng(0)
    cam = rng.uniform(0.01, 0.99, (20, 30)).astype(np.float32)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = crf_refine(cam, image, bilateral_sxy=5, gaussian_compat=0, bilateral_compat=0)
    np.testing.assert_allclose(out, cam, atol=1e-6)


def test_crf_equals_pydensecrf_called_directly_and_snaps_to_colour_edges():
    import pydensecrf.densecrf as dcrf

    h, w = 32, 64
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2] = (200, 40, 40)
    image[:, w // 2 :] = (40, 40, 200)
    truth = np.zeros((h, w), bool)
    truth[:, w // 2 :] = True
    xs = np.arange(w, dtype=np.float32)
    cam = np.tile(1 / (1 + np.exp(-(xs - 38) / 3)), (h, 1)).astype(np.float32)  # edge off by 6
    out = crf_refine(cam, image, bilateral_sxy=16)
    crf = dcrf.DenseCRF2D(w, h, 2)
    probs = np.clip(np.stack([1 - cam, cam]), 1e-5, 1.0)
    crf.setUnaryEnergy(np.ascontiguousarray(-np.log(probs).reshape(2, -1)))
    crf.addPairwiseGaussian(sxy=3, compat=3)
    crf.addPairwiseBilateral(sxy=16, srgb=13, rgbim=image, compat=10)
    direct = np.asarray(crf.inference(10)).reshape(2, h, w)[1]
    np.testing.assert_allclose(out, direct, atol=1e-6)
    assert ((cam > 0.5) != truth).mean() > 0.05
    assert ((out > 0.5) != truth).mean() < 0.01  # the boundary moved onto the colour edge


def test_guided_filter_with_a_constant_guide_is_a_twice_applied_box_mean():
    rng = np.random.default_rng(0)
    cam = rng.random((40, 50)).astype(np.float32)
    guide = np.full((40, 50, 3), 0.5, np.float32)
    out = guided_refine(cam, guide, radius=4, eps=1e-2)
    box = cv2.blur(cv2.blur(cam, (9, 9), borderType=cv2.BORDER_REFLECT), (9, 9),
                   borderType=cv2.BORDER_REFLECT)  # fmt: skip
    np.testing.assert_allclose(out, box, atol=1e-6)


def test_guided_filter_keeps_the_guides_edges():
    h, w = 32, 64
    guide = np.zeros((h, w, 3), np.float32)
    guide[:, w // 2 :] = 1.0
    truth = np.zeros((h, w), np.float32)
    truth[:, w // 2 :] = 1.0
    blurred = cv2.blur(truth, (15, 15), borderType=cv2.BORDER_REFLECT)
    out = guided_refine(blurred, guide, radius=4, eps=1e-2)
    jump = out[:, w // 2] - out[:, w // 2 - 1]
    blurred_jump = blurred[:, w // 2] - blurred[:, w // 2 - 1]
    assert (jump > 4 * blurred_jump).all()  # the map now steps where the guide steps
    box = cv2.blur(cv2.blur(blurred, (9, 9), borderType=cv2.BORDER_REFLECT), (9, 9),
                   borderType=cv2.BORDER_REFLECT)  # fmt: skip
    assert (box[:, w // 2] - box[:, w // 2 - 1] < blurred_jump).all()  # a blur would not


@pytest.mark.slow
def test_refined_low_res_methods_equal_the_packages_on_the_low_res_cam(model, images, minmax):
    methods = build_methods(model, ["low_res_cam", "cam_crf", "cam_guided"])
    low = methods["low_res_cam"](images, TARGETS).maps
    pixels = images.permute(0, 2, 3, 1).numpy()
    stride = model.classifier.stride
    guided = np.stack(
        [
            cv2.ximgproc.guidedFilter(guide=p, src=m, radius=stride // 2, eps=1e-2)
            for m, p in zip(low, pixels, strict=True)
        ]
    )
    np.testing.assert_allclose(methods["cam_guided"](images, TARGETS).maps, minmax(guided),
                               atol=1e-6)  # fmt: skip
    crf = np.stack(
        [
            crf_refine(m, np.round(p * 255).astype(np.uint8), bilateral_sxy=stride)
            for m, p in zip(low, pixels, strict=True)
        ]
    )
    np.testing.assert_allclose(methods["cam_crf"](images, TARGETS).maps, minmax(crf), atol=1e-6)


def test_missing_ximgproc_says_how_to_fix_it(monkeypatch):
    monkeypatch.setattr(cv2, "ximgproc", types.SimpleNamespace(), raising=False)
    with pytest.raises(MissingExtraError, match="opencv-contrib-python-headless==") as info:
        require_ximgproc("method cam_guided")
    assert "pip install 'hrcam[contrib]'" in str(info.value)


def test_bad_options_are_named(model):
    with pytest.raises(ValueError, match="takes no options"):
        hires_method(model, "fullgrad", radius=3)
    with pytest.raises(ValueError, match="unknown high-res baseline"):
        hires_method(model, "rise")
    with pytest.raises(ValueError, match="uint8"):
        crf_refine(np.zeros((4, 4)), np.zeros((4, 4, 3)), bilateral_sxy=2)
