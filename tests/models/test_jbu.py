"""The learned JBU upsampler: its arithmetic, FeatUp's units, its linearity and its checkpoints."""

import pytest
import torch

from hrcam.models.jbu import (
    JBUStage,
    JBUUpsampler,
    UpsamplerError,
    build_upsampler,
    jbu_weighted_sum,
    load_upsampler,
    save_upsampler,
    with_upsampler,
)


def _randomised(upsampler: JBUUpsampler, seed: int = 0) -> JBUUpsampler:
    """Non-trivial weights everywhere."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in upsampler.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return upsampler.eval()


def test_unfold_sum_equals_a_direct_per_pixel_loop():
    gen = torch.Generator().manual_seed(1)
    source = torch.randn(2, 3, 5, 6, generator=gen)
    r, d = 1, 3
    kernel = torch.rand(2, d * d, 5, 6, generator=gen)
    out = jbu_weighted_sum(source, kernel, r)
    padded = torch.nn.functional.pad(source, [r] * 4, mode="reflect")
    expected = torch.zeros_like(source)
    for b in range(2):
        for y in range(5):
            for x in range(6):
                for p in range(d * d):
                    dy, dx = divmod(p, d)
                    expected[b, :, y, x] += kernel[b, p, y, x] * padded[b, :, y + dy, x + dx]
    torch.testing.assert_close(out, expected)


def test_stage_kernel_is_a_normalised_window_before_the_fixup():
    stage = JBUStage()
    torch.nn.init.zeros_(stage.kernel_fixup[-1].weight)
    torch.nn.init.zeros_(stage.kernel_fixup[-1].bias)
    kernel = stage.kernel(torch.randn(1, 3, 8, 8))
    assert kernel.shape == (1, 49, 8, 8)
    torch.testing.assert_close(kernel.sum(1), torch.ones(1, 8, 8))


def test_the_spatial_kernel_is_in_featups_units():
    # FeatUp: offsets linspace(-1, 1, 7) and sigma 1 at the start, i.e. sigma = 3 pixels.
    stage = JBUStage()
    kernel = stage.spatial_kernel().view(7, 7)
    offsets = torch.arange(-3, 4, dtype=torch.float32)
    expected = torch.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 3.0**2))
    torch.testing.assert_close(kernel, expected)


def test_upsampling_features_then_class_weights_equals_upsampling_the_cam():
    upsampler = _randomised(JBUUpsampler(stages=3))
    gen = torch.Generator().manual_seed(2)
    features = torch.randn(2, 5, 3, 3, generator=gen)
    guidance = torch.randn(2, 3, 24, 24, generator=gen)
    weight = torch.randn(2, 5, generator=gen)
    with torch.no_grad():
        high = upsampler(features, guidance)
        assert high.shape == (2, 5, 24, 24)
        then_weights = torch.einsum("bk,bkhw->bhw", weight, high)
        cam = torch.einsum("bk,bkhw->bhw", weight, features)
        direct = upsampler.upsample_cam(cam, guidance)
    torch.testing.assert_close(direct, then_weights, rtol=1e-4, atol=1e-4)
    assert then_weights.abs().max() > 0.1  # not a vacuous comparison of zeros


def test_a_constant_source_stays_constant():
    # Every kernel sums to one before the fixup; zeroing the fixup keeps it an average.
    upsampler = _randomised(JBUUpsampler(stages=2))
    for stage in upsampler.stages:
        torch.nn.init.zeros_(stage.kernel_fixup[-1].weight)
        torch.nn.init.zeros_(stage.kernel_fixup[-1].bias)
    with torch.no_grad():
        out = upsampler(torch.full((1, 2, 2, 2), 3.0), torch.randn(1, 3, 8, 8))
    torch.testing.assert_close(out, torch.full((1, 2, 8, 8), 3.0))


def _wide_classifier(k=80, classes=20, stride=8):
    class Clf(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.k, self.num_classes, self.stride = k, classes, stride
            self.fc = torch.nn.Linear(k, classes)

    return Clf()


def test_a_wide_classifier_gets_no_basis_and_records_its_identity():
    clf = _wide_classifier()
    upsampler = build_upsampler(clf)
    assert len(upsampler.stages) == 3 and upsampler.scale == 8
    assert upsampler.config["k"] == 80 and upsampler.config["version"] == 2
    assert not any("basis" in key for key in upsampler.state_dict())


def test_an_upsampler_of_the_former_format_is_refused_with_what_to_do(tmp_path):
    clf = _wide_classifier()
    upsampler = build_upsampler(clf)
    upsampler.config.pop("version")
    upsampler.trained.fill_(True)
    path = save_upsampler(tmp_path / "old.pt", upsampler)
    with pytest.raises(UpsamplerError, match=r"earlier hrcam.*retrain"):
        load_upsampler(path, clf)


def test_checkpoint_round_trip_and_untrained_refusal(tmp_path):
    clf = _wide_classifier()
    upsampler = _randomised(build_upsampler(clf))
    model = type("M", (), {"classifier": clf})()
    with pytest.raises(UpsamplerError, match="untrained"):
        with_upsampler(model, upsampler)
    upsampler.trained.fill_(True)
    path = save_upsampler(tmp_path / "u.pt", upsampler, {"note": 1})
    loaded = load_upsampler(path, clf)
    for key, value in upsampler.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    with pytest.raises(UpsamplerError, match="k=80"):
        load_upsampler(path, _wide_classifier(k=96))
    with pytest.raises(UpsamplerError, match="train an upsampler first"):
        load_upsampler(tmp_path / "missing.pt")
