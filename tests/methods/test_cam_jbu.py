"""cam_jbu: joint bilateral upsampling of the low-res CAM as Kopf et al. (2007) define it."""

import math

import numpy as np
import pytest
import torch

from hrcam.methods import KOPF_DEFAULTS, build_methods, joint_bilateral_upsample
from hrcam.methods.paper import low_res_tensor
from hrcam.methods.registry import get_method, runnable_method_names

SIZE = 64
TARGETS = [0, 2, 1]


def _loop_reference(src, guide, radius=2, sigma_spatial=1.0, sigma_range=0.1):
    """The rule of the docstring, one output pixel and one sample at a time (float64).

    ``src`` is ``(h, w)``, ``guide`` ``(G, H, W)``.
    """
    h, w = src.shape
    _, H, W = guide.shape
    sy, sx = H // h, W // w
    cells = guide.reshape(-1, h, sy, w, sx).mean(axis=(2, 4))
    out = np.zeros((H, W))
    for y in range(H):
        for x in range(W):
            u, v = (y + 0.5) / sy - 0.5, (x + 0.5) / sx - 0.5
            num = den = 0.0
            for i in range(y // sy - radius, y // sy + radius + 1):
                for j in range(x // sx - radius, x // sx + radius + 1):
                    if not (0 <= i < h and 0 <= j < w):
                        continue
                    spatial = math.exp(-((u - i) ** 2 + (v - j) ** 2) / (2 * sigma_spatial**2))
                    d2 = float(((guide[:, y, x] - cells[:, i, j]) ** 2).sum())
                    weight = spatial * math.exp(-d2 / (2 * sigma_range**2))
                    num += weight * src[i, j]
                    den += weight
            out[y, x] = num / den
    return out


def test_a_constant_guide_gives_gaussian_interpolation_of_the_samples():
    gen = torch.Generator().manual_seed(0)
    src = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64)
    guide = torch.full((2, 3, 12, 16), 0.3, dtype=torch.float64)
    got = joint_bilateral_upsample(src, guide)
    for b in range(2):
        expected = _loop_reference(src[b].numpy(), guide[b].numpy())
        np.testing.assert_allclose(got[b].numpy(), expected, rtol=0, atol=1e-12)
    # Gaussian interpolation: smooth, not nearest-neighbour copies of the samples.
    assert len(np.unique(np.round(got[0].numpy(), 9))) > 3 * 4 * 4


def test_any_guide_matches_the_per_pixel_rule_including_non_square_strides():
    gen = torch.Generator().manual_seed(1)
    src = torch.rand(2, 3, 5, generator=gen, dtype=torch.float64)
    guide = torch.rand(2, 3, 9, 10, generator=gen, dtype=torch.float64)  # strides 3 and 2
    got = joint_bilateral_upsample(src, guide, radius=1, sigma_spatial=0.7, sigma_range=0.2)
    for b in range(2):
        expected = _loop_reference(src[b].numpy(), guide[b].numpy(), 1, 0.7, 0.2)
        np.testing.assert_allclose(got[b].numpy(), expected, rtol=0, atol=1e-12)


def test_an_edge_in_the_guide_keeps_the_two_sides_apart():
    # Left half of the CAM hot over a black object, right half cold over a white background.
    src = torch.zeros(1, 4, 4)
    src[..., :2] = 1.0
    guide = torch.zeros(1, 3, 32, 32)
    guide[..., 16:] = 1.0
    sharp = joint_bilateral_upsample(src, guide)[0]
    assert sharp[:, :16].min() > 1 - 1e-6 and sharp[:, 16:].max() < 1e-6
    # Without the edge (a constant guide) the same samples blur across it.
    blurred = joint_bilateral_upsample(src, torch.zeros_like(guide))[0]
    assert 0.2 < blurred[0, 15] < 0.8 and 0.2 < blurred[0, 16] < 0.8


def test_a_pixel_far_from_every_sample_colour_stays_finite():
    # A white pixel in a black cell: every range weight underflows float32 (exp(-150)).
    src = torch.rand(1, 2, 2, generator=torch.Generator().manual_seed(2))
    guide = torch.zeros(1, 3, 16, 16)
    guide[..., 3, 3] = 1.0
    out = joint_bilateral_upsample(src, guide)
    assert torch.isfinite(out).all()
    assert src.min() - 1e-6 <= out.min() and out.max() <= src.max() + 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_shape_dtype_and_device_follow_the_input(dtype):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        src = torch.rand(3, 2, 7, 7, device=device).to(dtype)  # two channels
        guide = torch.rand(3, 3, 224, 224, device=device)
        out = joint_bilateral_upsample(src, guide)
        assert out.shape == (3, 2, 224, 224) and out.dtype == dtype
        assert out.device == src.device
        single = joint_bilateral_upsample(src[:, 0], guide)
        assert single.shape == (3, 224, 224)
        torch.testing.assert_close(single, out[:, 0])


def test_a_batch_split_into_chunks_equals_the_batch_at_once(monkeypatch):
    from hrcam.methods import bilateral

    gen = torch.Generator().manual_seed(3)
    src, guide = torch.rand(5, 3, 3, generator=gen), torch.rand(5, 3, 24, 24, generator=gen)
    whole = joint_bilateral_upsample(src, guide)
    monkeypatch.setattr(bilateral, "_CHUNK_FLOATS", 24 * 24 * 25 * 2)  # two images per chunk
    torch.testing.assert_close(joint_bilateral_upsample(src, guide), whole)


def test_sizes_the_stride_does_not_divide_are_refused():
    with pytest.raises(ValueError, match="multiple of the source"):
        joint_bilateral_upsample(torch.rand(1, 7, 7), torch.rand(1, 3, 100, 100))
    with pytest.raises(ValueError, match="same B"):
        joint_bilateral_upsample(torch.rand(2, 7, 7), torch.rand(1, 3, 224, 224))


def test_cam_jbu_is_the_upsampled_low_res_cam_of_the_classifier(model):
    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    methods = build_methods(model, ["low_res_cam", "cam_jbu"])
    maps = methods["cam_jbu"](images, TARGETS).maps
    low = low_res_tensor(model, images, TARGETS)
    assert low.shape == (3, SIZE // model.classifier.stride, SIZE // model.classifier.stride)
    up = joint_bilateral_upsample(low, images).numpy()
    lo, hi = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(maps, (up - lo) / (hi - lo), atol=1e-5)
    assert maps.shape == (3, SIZE, SIZE) and maps.dtype == np.float32
    assert np.abs(maps - methods["low_res_cam"](images, TARGETS).maps).max() > 0.01
    # No pip extra, run by default, the settings fixed by Kopf et al.'s rule.
    entry = get_method("cam_jbu")
    assert entry.extra is None and "cam_jbu" in runnable_method_names()
    assert KOPF_DEFAULTS == {"radius": 2, "sigma_spatial": 1.0, "sigma_range": 0.1}
