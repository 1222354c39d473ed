"""Backbone initialisation from a local state dict and through the torchvision weights enum."""

import pytest
import torch
import torchvision
from torchvision.models import DenseNet121_Weights, WeightsEnum

from hrcam.models import COMPACT_DENSENET, build_classifier


def _backbone_equal(clf, reference) -> bool:
    own = clf.backbone.extractor.state_dict()
    ref = reference.state_dict()
    return all(torch.equal(v, ref[k]) for k, v in own.items())


def _reference_compact(seed):
    torch.manual_seed(seed)
    return torchvision.models.DenseNet(**COMPACT_DENSENET, num_classes=7)


def test_init_from_local_state_dict(tmp_path):
    reference = _reference_compact(5)
    path = tmp_path / "dn.pth"
    torch.save(reference.state_dict(), path)
    torch.manual_seed(6)
    clf = build_classifier("densenet_compact", num_classes=3, weights=str(path))
    assert _backbone_equal(clf, reference)
    torch.manual_seed(6)
    assert not _backbone_equal(build_classifier("densenet_compact", num_classes=3), reference)


def test_legacy_densenet_keys_and_wrappers(tmp_path):
    """torchvision's hosted DenseNet weights use 'norm.1'-style names; 'module.' from DDP."""
    reference = _reference_compact(7)
    legacy = {}
    for key, value in reference.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue  # absent from old checkpoints
        key = key.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2.")
        legacy["module." + key] = value
    assert any(".norm.1." in k for k in legacy)
    path = tmp_path / "legacy.pt"
    torch.save({"state_dict": legacy}, path)
    assert _backbone_equal(build_classifier("densenet_compact", weights=path), reference)


def test_weights_enum_path_goes_through_same_loader(monkeypatch):
    """No download: the enum's get_state_dict returns a locally made state dict."""
    torch.manual_seed(8)
    reference = torchvision.models.densenet121()
    calls = []

    def fake_get_state_dict(self, *args, **kwargs):
        calls.append(self)
        return reference.state_dict()

    monkeypatch.setattr(WeightsEnum, "get_state_dict", fake_get_state_dict)
    clf = build_classifier("densenet121", num_classes=4, weights="IMAGENET1K_V1")
    assert calls == [DenseNet121_Weights.IMAGENET1K_V1]
    assert _backbone_equal(clf, reference)


def test_weights_errors(tmp_path):
    with pytest.raises(ValueError, match=r"choose one of \['DEFAULT', 'IMAGENET1K_V1'\]"):
        build_classifier("densenet121", weights="IMAGENET_V9")
    with pytest.raises(ValueError, match="no pretrained weights for 'densenet_compact'"):
        build_classifier("densenet_compact", weights="IMAGENET1K_V1")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_classifier("densenet_compact", weights=tmp_path / "missing.pt")
    other = tmp_path / "resnet.pt"
    torch.save(torchvision.models.resnet18().state_dict(), other)
    with pytest.raises(ValueError, match=r"do not fit this backbone: \d+ missing keys"):
        build_classifier("densenet_compact", weights=other)
    bigger = tmp_path / "bigger.pt"
    torch.save(
        torchvision.models.DenseNet(growth_rate=16, block_config=(4, 4, 4)).state_dict(), bigger
    )
    with pytest.raises(ValueError, match="shape mismatches"):
        build_classifier("densenet_compact", weights=bigger)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable torch state dict"):
        build_classifier("densenet_compact", weights=junk)


def test_unknown_arch_and_bad_sizes():
    with pytest.raises(ValueError, match="arch='vgg16' is not supported"):
        build_classifier("vgg16")
    with pytest.raises(ValueError, match="num_classes"):
        build_classifier("densenet_compact", num_classes=0)
    with pytest.raises(ValueError, match="k must"):
        build_classifier("densenet_compact", k=0)
