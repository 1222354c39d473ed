"""Wrapping decides GAP-ness by what the pooling is, and checks the logits where the final map
is at least 2x2 (issue #23 items 2 and 5): no silently wrong CAMs for max-pooled models."""

from __future__ import annotations

import pytest
import torch

from hrcam.errors import HrcamError
from hrcam.models.wrap import wrap_classifier

timm = pytest.importorskip("timm")


@pytest.mark.parametrize("pool", ["max", "avgmax", "catavgmax"])
def test_timm_max_pooling_is_refused_at_any_probe_size(pool):
    model = timm.create_model("resnet18", global_pool=pool, num_classes=4)
    with pytest.raises(HrcamError, match=f"'{pool}' global pooling.*global_pool='avg'"):
        wrap_classifier(model, probe_size=32)  # 32 px: the final map is 1x1, max == mean


def test_max_pool_hidden_behind_an_average_label_is_caught_on_a_2x2_map():
    model = timm.create_model("resnet18", global_pool="max", num_classes=4)
    model.global_pool.pool_type = "avg"  # says average, still takes the max
    with pytest.raises(HrcamError, match="differ from model"):
        wrap_classifier(model, probe_size=32)


def test_average_pooling_still_wraps_and_matches_at_224():
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=4).eval()
    wrapped = wrap_classifier(model, probe_size=32)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        native, ours = model(x), wrapped.forward_features(x).logits
    assert torch.allclose(native, ours, rtol=1e-4, atol=1e-4 * float(native.abs().max()))


def test_no_pooling_is_refused_clearly():
    with pytest.raises(HrcamError, match="no global pooling"):
        wrap_classifier(timm.create_model("resnet18", global_pool="", num_classes=4))


@pytest.mark.parametrize("size", [0, -32, 1.5, True])
def test_bad_probe_size_is_refused(size):
    with pytest.raises(HrcamError, match="probe_size must be a positive integer"):
        wrap_classifier(timm.create_model("resnet18", num_classes=4), probe_size=size)


def test_probe_size_off_the_stride_names_the_true_stride():
    with pytest.raises(HrcamError, match="not a multiple of the model's stride 32"):
        wrap_classifier(timm.create_model("resnet18", num_classes=4), probe_size=33)


def test_torchvision_probe_off_the_stride_is_explained():
    torchvision = pytest.importorskip("torchvision")
    with pytest.raises(HrcamError, match="multiple of its stride"):
        wrap_classifier(torchvision.models.resnet18(num_classes=4), probe_size=33)


def test_too_small_probe_is_one_clear_refusal_without_a_printed_traceback(capfd):
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.inception_v3(weights=None, init_weights=False, num_classes=4)
    with pytest.raises(HrcamError, match=r"fails on a 64x64 dummy input.*Kernel size"):
        wrap_classifier(model)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def test_zoo_inception_is_refused_for_its_real_obstacle(capfd):
    pytest.importorskip("torchvision")
    from hrcam.models.wrap import build_wrapped

    # Larger dummy inputs are tried before refusing: the refusal names the missing whole
    # stride, not "a 64-px dummy input", and torch prints no traceback of its own.
    with pytest.raises(HrcamError, match="no whole stride"):
        build_wrapped("torchvision:inception_v3", num_classes=4)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
