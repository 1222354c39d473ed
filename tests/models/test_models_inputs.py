"""Bad inputs give ValueErrors that say what is wrong; normalisation round-trips."""

import numpy as np
import pytest
import torch

from hrcam.models import (
    IMAGENET_MEAN,
    build_classifier,
    build_expansion,
    denormalize_images,
    normalize_images,
)


@pytest.fixture(scope="module")
def clf():
    return build_classifier("densenet_compact", num_classes=2)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((3, 64, 64), "must be 4-D"),
        ((1, 1, 64, 64), "must have 3 channels.*grayscale"),
        ((1, 64, 64, 3), "must have 3 channels.*channels-last"),
        ((1, 3, 72, 64), "72x64, which the backbone stride 16 does not divide"),
    ],
)
def test_wrong_inputs(clf, shape, message):
    with pytest.raises(ValueError, match=message):
        clf(torch.zeros(shape))


def test_integer_input_rejected(clf):
    with pytest.raises(ValueError, match="float tensor normalised"):
        clf(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_expansion_build_size_must_divide(clf):
    with pytest.raises(ValueError, match="multiple of the backbone stride 16"):
        build_expansion(clf, image_size=100)


def test_expansion_rejects_foreign_skips(clf):
    exp = build_expansion(clf, image_size=32)
    with pytest.raises(ValueError, match="expected 4 skip tensors"):
        exp([torch.zeros(1, 24, 16, 16)])


def test_normalize_uint8_float_and_numpy_agree():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, size=(2, 3, 8, 8), dtype=np.uint8)
    a = normalize_images(torch.from_numpy(u8))
    b = normalize_images(u8.astype(np.float64) / 255.0)
    torch.testing.assert_close(a, b)
    # A mid-grey equal to the mean maps to zero in that channel.
    grey = torch.full((1, 3, 2, 2), IMAGENET_MEAN[0])
    assert normalize_images(grey)[0, 0].abs().max() < 1e-6
    torch.testing.assert_close(denormalize_images(a), torch.from_numpy(u8).float() / 255)


def test_normalize_errors():
    with pytest.raises(ValueError, match=r"found values in \[0, 255\]"):
        normalize_images(torch.tensor([0.0, 255.0]).repeat(1, 3, 1, 1).view(1, 3, 1, 2))
    unchecked = normalize_images(torch.full((1, 3, 1, 1), 2.0), check_range=False)
    torch.testing.assert_close(
        denormalize_images(unchecked, clamp=False), torch.full((1, 3, 1, 1), 2.0)
    )
    with pytest.raises(ValueError, match="single image"):
        normalize_images(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="uint8 or floating"):
        normalize_images(torch.zeros(1, 3, 2, 2, dtype=torch.int32))


def test_denormalize_clamp():
    x = torch.full((1, 3, 2, 2), 10.0)
    assert denormalize_images(x).max() == 1.0
    assert denormalize_images(x, clamp=False).min() > 1.0
