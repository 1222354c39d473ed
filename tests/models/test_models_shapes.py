"""Shapes of every output at several input sizes and for several backbones."""

import pytest
import torch

from hrcam.models import HRCAM, build_classifier, build_expansion


@pytest.fixture(scope="module")
def compact():
    torch.manual_seed(0)
    return build_classifier("densenet_compact", num_classes=5, k=16)


@pytest.mark.parametrize("size", [64, 128, 224])
def test_compact_shapes(compact, size):
    model = HRCAM(compact, build_expansion(compact, image_size=size)).eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        out = model(x)
    h = size // compact.stride
    assert compact.stride == 16
    assert out.logits.shape == (1, 5)
    assert out.cam_features.shape == (1, 16, h, h)
    assert out.hr_features.shape == (1, 16, size, size)
    assert out.reconstruction.shape == (1, 3, size, size)
    # The k-channel maps end in a ReLU, as in the reference code.
    assert out.cam_features.min() >= 0 and out.hr_features.min() >= 0


def test_compact_skips_are_the_stem_and_each_block(compact):
    with torch.no_grad():
        out = compact.forward_features(torch.randn(1, 3, 128, 128))
    # stem /2, block1 /4, block2 /8, final /16
    assert [s.shape[-1] for s in out.skips] == [64, 32, 16, 8]
    assert out.skips[-1].shape[1] == compact.backbone.out_channels


def test_expansion_runs_at_other_size_than_built(compact):
    """Built at 64 px, used on a non-square 96x160 input."""
    model = HRCAM(compact, build_expansion(compact, image_size=64)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 96, 160))
    assert out.cam_features.shape == (1, 16, 6, 10)
    assert out.hr_features.shape == (1, 16, 96, 160)
    assert out.reconstruction.shape == (1, 3, 96, 160)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "skip_channels"),
    [("densenet121", [64, 256, 512, 1024, 1024]), ("resnet50", [64, 256, 512, 1024, 2048])],
)
def test_large_backbones_at_64px(arch, skip_channels):
    clf = build_classifier(arch, num_classes=3, k=8)
    exp = build_expansion(clf, image_size=64)
    assert clf.stride == 32
    assert exp.skip_channels == skip_channels
    with torch.no_grad():
        out = HRCAM(clf, exp).eval()(torch.randn(1, 3, 64, 64))
    assert out.logits.shape == (1, 3)
    assert out.cam_features.shape == (1, 8, 2, 2)
    assert out.hr_features.shape == (1, 8, 64, 64)
    assert out.reconstruction.shape == (1, 3, 64, 64)


def test_other_densenet_config_changes_depth():
    """Any torchvision DenseNet layout works: 2 blocks give stride 8 and one skip fewer."""
    clf = build_classifier("densenet_compact", num_classes=2, block_config=(2, 2))
    exp = build_expansion(clf, image_size=32)
    assert clf.stride == 8
    with torch.no_grad():
        out = HRCAM(clf, exp).eval()(torch.randn(1, 3, 32, 32))
    assert out.cam_features.shape[-2:] == (4, 4)
    assert out.reconstruction.shape == (1, 3, 32, 32)
