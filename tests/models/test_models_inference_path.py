"""The expansion network's no-grad inference path gives the training path's numbers."""

import pytest
import torch

from hrcam.models import HRCAM, InferenceBuffers, build_classifier, build_expansion


def _model(seed: int = 0, size: int = 32) -> HRCAM:
    torch.manual_seed(seed)
    clf = build_classifier("densenet_compact", num_classes=3)
    expansion = build_expansion(clf, image_size=size)
    # Non-trivial eval statistics, negative and zero scales included: fresh BatchNorms
    # (mean 0, var 1, weight 1) would hide an error in the folded affine map.
    for module in expansion.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(-1.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
            module.weight.data[::5] = 0.0  # a == 0: relu(b) is a constant channel
    return HRCAM(clf, expansion).eval()


def _textbook(model: HRCAM, x: torch.Tensor):
    model.expansion.set_fast_inference(False)
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.expansion.set_fast_inference(True)


def test_autograd_takes_the_textbook_path():
    model = _model(5)
    x = torch.randn(2, 3, 32, 32)
    with torch.enable_grad():
        recorded = model(x).hr_features
    assert recorded.requires_grad  # the in-place inference path would have broken autograd
    torch.testing.assert_close(recorded.detach(), _textbook(model, x).hr_features)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("batch", [1, 3])
def test_inference_path_matches_textbook_path(memory_format, batch):
    model = _model().to(memory_format=memory_format)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=memory_format)
    expected = _textbook(model, x)
    with torch.inference_mode():
        fast = model(x)
    for a, b in zip(expected, fast, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    assert fast.hr_features.is_contiguous(memory_format=memory_format)


def test_reused_buffers_never_alias_earlier_outputs():
    model = _model(1)
    buffers = InferenceBuffers()
    x1, x2 = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        first = model(x1, buffers=buffers)
        kept = first.hr_features.clone()
        held = buffers.nbytes
        second = model(x2, buffers=buffers)
    assert held > 0 and buffers.nbytes == held  # same shape: reused, not grown
    torch.testing.assert_close(first.hr_features, kept, rtol=0, atol=0)
    torch.testing.assert_close(second.hr_features, _textbook(model, x2).hr_features)
    # A new batch size replaces the cached tensors instead of misusing them.
    with torch.no_grad():
        third = model(torch.randn(5, 3, 32, 32), buffers=buffers)
    assert third.hr_features.shape == (5, model.expansion.k, 32, 32)
    assert buffers.nbytes > held
    buffers.clear()
    assert buffers.nbytes == 0


def test_training_mode_ignores_buffers_and_keeps_gradients():
    model = _model(2).train()
    buffers = InferenceBuffers()
    out = model(torch.randn(2, 3, 32, 32), buffers=buffers)
    out.reconstruction.square().mean().backward()
    assert buffers.nbytes == 0
    assert all(p.grad is not None for p in model.expansion.parameters())


def test_reconstruction_can_be_skipped():
    model = _model(3)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = model(x)
        lean = model(x, reconstruct=False)
    assert lean.reconstruction is None
    torch.testing.assert_close(lean.hr_features, full.hr_features, rtol=0, atol=0)


def test_inference_path_under_bf16_autocast():
    model = _model(4).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    expected = _textbook(model, x).hr_features
    with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(x, buffers=InferenceBuffers()).hr_features
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    assert (out.float() - expected).abs().max() <= 0.1 * expected.abs().max() + 0.05


def test_cached_folds_follow_parameter_updates():
    """The folded BatchNorm is cached per layer; in-place updates and loads must refresh it."""
    model = _model(2)
    x = torch.randn(2, 3, 32, 32)
    buffers = InferenceBuffers()
    with torch.inference_mode():
        model(x, buffers=buffers)  # fills the caches
    with torch.no_grad():
        for module in model.expansion.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.add_(0.25)  # in place, as BatchNorm's own update is
            elif isinstance(module, torch.nn.Conv2d) and module.bias is None:
                module.weight.mul_(-0.5)  # as an optimiser step is
    with torch.inference_mode():
        updated = model(x, buffers=buffers).hr_features
    torch.testing.assert_close(updated, _textbook(model, x).hr_features, rtol=1e-5, atol=1e-5)
    model.expansion.load_state_dict(_model(3).expansion.state_dict())
    with torch.inference_mode():
        loaded = model(x, buffers=buffers).hr_features
    torch.testing.assert_close(loaded, _textbook(model, x).hr_features, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [16, 64])
def test_inference_path_with_buffers_matches_at_other_sizes(size):
    """Border corrections of the folded conv hold on tiny maps (all border) and larger ones,
    and a second call through the same buffers (cached folds, aliased steps) agrees too."""
    model = _model(4, size=size).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, size, size).contiguous(memory_format=torch.channels_last)
    expected = _textbook(model, x).hr_features
    buffers = InferenceBuffers()
    with torch.inference_mode():
        first = model(x, reconstruct=False, buffers=buffers).hr_features.clone()
        second = model(x, reconstruct=False, buffers=buffers).hr_features
    torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(second, first, rtol=0, atol=0)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_bfloat16_copy_takes_the_folded_path(memory_format):
    """A bfloat16 expansion network on the float32 classifier: its folded inference path agrees
    with its own textbook path and with the float32 network, to bfloat16's precision."""
    from hrcam.models import with_expansion_dtype

    model = _model(6).to(memory_format=memory_format)
    fast16 = with_expansion_dtype(model, torch.bfloat16)
    assert fast16.classifier is model.classifier
    assert next(model.expansion.parameters()).dtype == torch.float32  # the original is kept
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=memory_format)
    exact = _textbook(model, x).hr_features
    textbook16 = _textbook(fast16, x).hr_features
    with torch.inference_mode():
        folded16 = fast16(x, reconstruct=False, buffers=InferenceBuffers()).hr_features
    assert folded16.dtype == textbook16.dtype == torch.bfloat16
    scale = exact.abs().max()
    # Eight significant bits per value; a few roundings deep the maps stay within ~2%.
    assert (folded16.float() - textbook16.float()).abs().max() <= 0.03 * scale
    assert (folded16.float() - exact).abs().max() <= 0.03 * scale
    assert (folded16.float() - exact).abs().max() > 0  # it did run in bfloat16


def test_with_expansion_dtype_errors_and_inference_mode():
    from hrcam.models import with_expansion_dtype

    model = _model(7)
    with pytest.raises(ValueError, match="HRCAM"):
        with_expansion_dtype(model.expansion, torch.bfloat16)
    with pytest.raises(ValueError, match="floating-point"):
        with_expansion_dtype(model, torch.int8)
    with torch.inference_mode():  # a copy made here is a normal module: trainable, cacheable
        copy16 = with_expansion_dtype(model, torch.bfloat16)
        buffers = InferenceBuffers()
        first = copy16(torch.randn(1, 3, 32, 32), buffers=buffers).hr_features.clone()
        again = copy16(torch.randn(1, 3, 32, 32), buffers=buffers).hr_features
    assert not any(p.is_inference() for p in copy16.expansion.parameters())
    assert first.shape == again.shape == (1, model.expansion.k, 32, 32)


@pytest.mark.parametrize("mean_range", [(-0.5, 0.5), (3.0, 6.0), (10.0, 20.0)])
def test_bfloat16_inference_path_is_as_accurate_as_its_textbook_path(mean_range):
    """Folding BatchNorm into the conv convolves the raw input, whose rounding in bfloat16 grows
    with |mean| / std; such layers take the two-pass form, so the error never blows up."""
    from hrcam.models import with_expansion_dtype

    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    expansion = build_expansion(clf, image_size=32)
    for module in expansion.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(*mean_range)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    model = HRCAM(clf, expansion).eval()
    model16 = with_expansion_dtype(model, torch.bfloat16)
    x = torch.randn(2, 3, 32, 32)
    exact = _textbook(model, x).hr_features
    textbook16 = _textbook(model16, x).hr_features.float()
    with torch.inference_mode():
        fast16 = model16(x, buffers=InferenceBuffers()).hr_features.float()
    scale = exact.abs().max()
    error, reference = (fast16 - exact).abs().max(), (textbook16 - exact).abs().max()
    assert error <= 2 * reference + 1e-3 * scale, (error / scale, reference / scale)


def test_bfloat16_copy_keeps_the_cam_basis_exact():
    """A wrapped model's fused CAM basis meets only the float32 FC weights: it is not rounded."""
    from hrcam.models import with_expansion_dtype

    torch.manual_seed(2)
    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=32, rank=2)).eval()
    copy16 = with_expansion_dtype(model, torch.bfloat16)
    assert copy16.expansion.cam_basis.dtype == torch.float32
    assert torch.equal(copy16.expansion.cam_basis, model.expansion.cam_basis)
    assert torch.equal(copy16.high_res_weight, model.high_res_weight)
    assert next(copy16.expansion.steps.parameters()).dtype == torch.bfloat16
