"""torch.compile (the GPU path's optional speed-up) gives eager's numbers, here on CPU."""

import pytest
import torch

from hrcam.models import HRCAM, InferenceBuffers, build_classifier, build_expansion


@pytest.mark.slow
def test_compiled_hrcam_matches_eager_in_eval_and_training():
    torch._dynamo.reset()
    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    compiled = torch.compile(model)
    x = torch.randn(2, 3, 32, 32)

    with torch.no_grad():
        eager = model(x)  # the eager no-grad fast path
        traced = compiled(x, buffers=InferenceBuffers())  # traced through the textbook path
    for a, b in zip(eager, traced, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)

    model.train()
    eager_loss = torch.nn.functional.mse_loss(model(x).reconstruction, x)
    eager_loss.backward()
    eager_grads = [p.grad.clone() for p in model.expansion.parameters()]
    model.zero_grad(set_to_none=True)
    compiled_loss = torch.nn.functional.mse_loss(compiled(x).reconstruction, x)
    compiled_loss.backward()
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-4, atol=1e-6)
    for p, g in zip(model.expansion.parameters(), eager_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-3, atol=1e-5)
