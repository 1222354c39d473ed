"""classifier_fingerprint: the identity of a classifier's weights (issue #33 item 3)."""

from __future__ import annotations

import torch

from hrcam.models import build_classifier, load_checkpoint, save_checkpoint
from hrcam.models.fingerprint import classifier_fingerprint


def _classifier(seed: int):
    torch.manual_seed(seed)
    return build_classifier("densenet_compact", num_classes=3).eval()


def test_same_weights_same_fingerprint_any_change_another():
    a, b = _classifier(0), _classifier(0)
    fingerprint = classifier_fingerprint(a)
    assert fingerprint.startswith("sha256:") and len(fingerprint) == len("sha256:") + 64
    assert classifier_fingerprint(b) == fingerprint
    assert classifier_fingerprint(_classifier(1)) != fingerprint
    with torch.no_grad():
        weight = next(p for p in b.parameters() if p.ndim > 1)
        weight.view(-1)[0] = torch.nextafter(weight.view(-1)[0], torch.tensor(2.0))
    assert classifier_fingerprint(b) != fingerprint  # one ulp of one weight


def test_layout_wrappers_and_non_persistent_buffers_do_not_count():
    a = _classifier(0)
    fingerprint = classifier_fingerprint(a)
    b = _classifier(0).to(memory_format=torch.channels_last)
    b.register_buffer("scratch", torch.randn(5), persistent=False)
    assert classifier_fingerprint(b) == fingerprint

    class Wrapper(torch.nn.Module):  # what DDP looks like: the model under .module
        def __init__(self, module):
            super().__init__()
            self.module = module

    assert classifier_fingerprint(Wrapper(a)) == fingerprint


def test_dtype_and_shape_are_part_of_the_identity():
    a = torch.nn.Linear(2, 2)
    b = torch.nn.Linear(2, 2)
    b.load_state_dict(a.state_dict())
    assert classifier_fingerprint(a) == classifier_fingerprint(b)
    assert classifier_fingerprint(b.to(torch.float64)) != classifier_fingerprint(a)
    bf16 = torch.nn.Linear(2, 2).to(torch.bfloat16)  # numpy cannot hold bfloat16: still hashed
    assert classifier_fingerprint(bf16).startswith("sha256:")


def test_checkpoints_record_it_and_a_reload_matches(tmp_path):
    clf = _classifier(0)
    path = save_checkpoint(tmp_path / "c.pt", clf, metadata={"image_size": 32})
    ckpt = load_checkpoint(path)
    assert ckpt.metadata["classifier_fingerprint"] == classifier_fingerprint(clf)
    assert classifier_fingerprint(ckpt.classifier) == classifier_fingerprint(clf)
