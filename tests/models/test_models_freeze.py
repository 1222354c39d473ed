"""Training the expansion network never changes the classifier's outputs (paper §3.2)."""

import pytest
import torch

from hrcam.models import HRCAM, build_classifier, build_expansion, low_res_cam


@pytest.mark.slow
def test_classifier_outputs_bit_identical_after_expansion_training():
    torch.manual_seed(3)
    clf = build_classifier("densenet_compact", num_classes=4)
    # Give BatchNorm non-trivial running statistics first, as a trained classifier would have.
    clf.train()
    with torch.no_grad():
        clf(torch.randn(8, 3, 32, 32))
    model = HRCAM(clf, build_expansion(clf, image_size=32, growth_rate=8, layers_per_block=2))
    assert not any(p.requires_grad for p in model.classifier.parameters())
    assert all(p.requires_grad for p in model.expansion.parameters())

    probe = torch.randn(3, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        before = model(probe)
    low_before = low_res_cam(before.cam_features, clf.fc.weight, before.logits.argmax(1))
    bn_before = {k: v.clone() for k, v in clf.state_dict().items()}
    exp_before = [p.detach().clone() for p in model.expansion.parameters()]

    model.train()
    assert not model.classifier.training and model.expansion.training
    optimizer = torch.optim.Adadelta(model.trainable_parameters())
    for _ in range(3):
        x = torch.randn(2, 3, 32, 32)
        loss = torch.nn.functional.mse_loss(model(x).reconstruction, x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    # The expansion network did learn something...
    assert any(
        not torch.equal(a, b) for a, b in zip(exp_before, model.expansion.parameters(), strict=True)
    )
    # ...while classifier weights, BN statistics, logits and low-res CAMs are bit-for-bit equal.
    assert all(torch.equal(bn_before[k], v) for k, v in clf.state_dict().items())
    model.eval()
    with torch.no_grad():
        after = model(probe)
    low_after = low_res_cam(after.cam_features, clf.fc.weight, after.logits.argmax(1))
    assert torch.equal(before.logits, after.logits)
    assert torch.equal(low_before, low_after)
    assert all(p.grad is None for p in clf.parameters())


def test_classifier_put_back_in_eval_if_switched_directly():
    clf = build_classifier("densenet_compact", num_classes=2)
    model = HRCAM(clf, build_expansion(clf, image_size=32))
    model.classifier.train()
    model(torch.randn(2, 3, 32, 32))
    assert not model.classifier.training
