"""CAM arithmetic: the logit is the spatial mean of the low-res CAM plus the bias."""

import pytest
import torch

from hrcam.models import (
    HRCAM,
    build_classifier,
    build_expansion,
    class_activation_map,
    high_res_cam,
    low_res_cam,
    predicted_classes,
)


@pytest.fixture(scope="module")
def model64():
    torch.manual_seed(1)
    clf = build_classifier("densenet_compact", num_classes=6, k=16).double()
    return HRCAM(clf, build_expansion(clf, image_size=64, growth_rate=8, layers_per_block=2)).eval()


def test_logit_is_mean_of_low_res_cam_plus_bias(model64):
    torch.manual_seed(2)
    x = torch.randn(4, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        out = model64(x)
    fc = model64.classifier.fc
    for c in range(fc.out_features):
        cam = low_res_cam(out.cam_features, fc.weight, c)
        assert cam.shape == (4, 4, 4)
        recomputed = cam.mean(dim=(1, 2)) + fc.bias[c]
        # Algebraically identical; in float64 only summation order differs.
        torch.testing.assert_close(recomputed, out.logits[:, c], rtol=1e-12, atol=1e-12)


def test_cam_per_image_class_matches_loop(model64):
    x = torch.randn(3, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        out = model64(x)
    w = model64.classifier.fc.weight
    classes = torch.tensor([5, 0, 2])
    high = high_res_cam(out.hr_features, w, classes)
    assert high.shape == (3, 64, 64)
    for i, c in enumerate(classes.tolist()):
        manual = (out.hr_features[i] * w[c].view(-1, 1, 1)).sum(0)
        torch.testing.assert_close(high[i], manual)
    pred = predicted_classes(out.logits)
    assert torch.equal(
        low_res_cam(out.cam_features, w, pred),
        class_activation_map(out.cam_features, w, pred.tolist()),
    )


def test_cam_is_float32_under_bf16_features():
    feats = torch.rand(2, 4, 3, 3).to(torch.bfloat16)
    w = torch.randn(5, 4)
    cam = class_activation_map(feats, w, [1, 4])
    assert cam.dtype == torch.float32
    torch.testing.assert_close(cam[1], (feats[1].float() * w[4].view(-1, 1, 1)).sum(0))


@pytest.mark.parametrize(
    ("classes", "message"),
    [([0, 9], r"\[0, 5\)"), ([0, 1, 2], "2 ints"), (1.5, "integers"), ([-1, 0], r"\[0, 5\)")],
)
def test_bad_classes(classes, message):
    with pytest.raises(ValueError, match=message):
        class_activation_map(torch.rand(2, 4, 3, 3), torch.randn(5, 4), classes)


def test_bad_feature_shapes():
    with pytest.raises(ValueError, match="fc_weight"):
        class_activation_map(torch.rand(2, 4, 3, 3), torch.randn(5, 3), 0)
    with pytest.raises(ValueError, match="features"):
        class_activation_map(torch.rand(4, 3, 3), torch.randn(5, 4), 0)
