"""The GPU speed paths (channels_last, bf16 autocast) run on CPU and give close results."""

import torch

from hrcam.models import HRCAM, build_classifier, build_expansion, high_res_cam, low_res_cam


def test_channels_last_and_bf16_autocast_on_cpu():
    torch.manual_seed(9)
    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        cl = model_cl(x_cl)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            amp = model_cl(x_cl)
    for a, b in zip(ref, cl, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert amp.logits.dtype == torch.bfloat16
    for a, b in zip(ref, amp, strict=True):
        assert a.shape == b.shape and torch.isfinite(b.float()).all()
        # bf16 keeps ~3 significant digits; the maps stay close in relative terms.
        assert (a - b.float()).abs().max() <= 0.1 * a.abs().max() + 0.05
    w = model.classifier.fc.weight
    low = low_res_cam(amp.cam_features, w, [0, 1])
    assert low.dtype == torch.float32
    assert high_res_cam(amp.hr_features, w, [2, 2]).shape == (2, 32, 32)


def test_expansion_trains_under_autocast():
    clf = build_classifier("densenet_compact", num_classes=2)
    model = HRCAM(clf, build_expansion(clf, image_size=32)).train()
    x = torch.randn(2, 3, 32, 32)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = torch.nn.functional.mse_loss(model(x).reconstruction.float(), x)
    loss.backward()
    grads = [p.grad for p in model.expansion.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
