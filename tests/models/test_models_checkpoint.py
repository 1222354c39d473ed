"""Checkpoint round trip, metadata, training state in ``extra``, and clear load errors."""

import os

import numpy as np
import pytest
import torch

from hrcam import __version__
from hrcam.models import (
    HRCAM,
    CheckpointError,
    atomic_torch_save,
    build_classifier,
    build_expansion,
    load_checkpoint,
    save_checkpoint,
)

NAMES = ["cat", "dog", "fox"]


@pytest.fixture(scope="module")
def hrcam_model():
    torch.manual_seed(4)
    clf = build_classifier("densenet_compact", num_classes=3, k=8)
    exp = build_expansion(clf, image_size=64, growth_rate=8, layers_per_block=2)
    return HRCAM(clf, exp).eval()


def test_round_trip_hrcam_with_training_state(tmp_path, hrcam_model):
    optimizer = torch.optim.Adadelta(hrcam_model.trainable_parameters())
    x = torch.randn(2, 3, 64, 64)
    torch.nn.functional.mse_loss(hrcam_model(x).reconstruction, x).backward()
    optimizer.step()
    extra = {"optimizer": optimizer.state_dict(), "epoch": 3, "rng": torch.get_rng_state()}
    path = save_checkpoint(
        tmp_path / "sub" / "model.pt", hrcam_model, metadata={"class_names": NAMES}, extra=extra
    )
    ckpt = load_checkpoint(path, expected_arch="densenet_compact", expected_kind="hrcam")
    meta = ckpt.metadata
    assert (meta["kind"], meta["arch"], meta["num_classes"], meta["k"]) == (
        "hrcam",
        "densenet_compact",
        3,
        8,
    )
    assert meta["image_size"] == 64  # taken from the expansion network when not given
    assert meta["class_names"] == NAMES and meta["hrcam_version"] == __version__
    assert ckpt.extra["epoch"] == 3 and torch.equal(ckpt.extra["rng"], extra["rng"])
    restored = torch.optim.Adadelta(ckpt.expansion.parameters())
    restored.load_state_dict(ckpt.extra["optimizer"])  # the optimizer state is usable
    with torch.no_grad():
        expected = hrcam_model(x)
        got = ckpt.model()(x)
    for a, b in zip(expected, got, strict=True):
        assert torch.equal(a, b)
    assert not any(p.requires_grad for p in ckpt.model().classifier.parameters())
    assert not list(path.parent.glob("*.tmp"))  # atomic write left no temporary file


def test_classifier_only_checkpoint(tmp_path, hrcam_model):
    path = save_checkpoint(tmp_path / "c.pt", hrcam_model.classifier, metadata={"image_size": 64})
    ckpt = load_checkpoint(path)
    assert ckpt.expansion is None and ckpt.metadata["kind"] == "classifier"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ckpt.classifier(x), hrcam_model.classifier(x))
    with pytest.raises(CheckpointError, match="only a classifier"):
        ckpt.model()
    with pytest.raises(CheckpointError, match=r"expected a 'hrcam' checkpoint, found 'classifier'"):
        load_checkpoint(path, expected_kind="hrcam")


def test_wrong_architecture_names_expected_and_found(tmp_path, hrcam_model):
    path = save_checkpoint(tmp_path / "m.pt", hrcam_model, metadata={})
    with pytest.raises(
        CheckpointError, match=r"expected architecture 'resnet50', found 'densenet_compact'"
    ):
        load_checkpoint(path, expected_arch="resnet50")


def test_truncated_file(tmp_path, hrcam_model):
    path = save_checkpoint(tmp_path / "m.pt", hrcam_model, metadata={})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"expected an hrcam checkpoint.*found a damaged"):
        load_checkpoint(path)


def test_garbage_file(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match="1000 bytes"):
        load_checkpoint(path)


def test_bare_state_dict_is_not_a_checkpoint(tmp_path, hrcam_model):
    path = tmp_path / "sd.pt"
    torch.save(hrcam_model.classifier.state_dict(), path)
    with pytest.raises(CheckpointError, match="bare state dict"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_are_reported(tmp_path, hrcam_model):
    path = save_checkpoint(tmp_path / "m.pt", hrcam_model, metadata={})
    payload = torch.load(path, weights_only=True)
    payload["classifier"].pop("fc.weight")
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"missing \['fc.weight'\]"):
        load_checkpoint(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint("/nonexistent/model.pt")


def test_save_rejects_unloadable_extra_and_bad_metadata(tmp_path, hrcam_model):
    with pytest.raises(ValueError, match=r"extra\['rng'\] is a numpy.ndarray"):
        save_checkpoint(tmp_path / "m.pt", hrcam_model, metadata={}, extra={"rng": np.zeros(3)})
    with pytest.raises(ValueError, match="3 classes"):
        save_checkpoint(tmp_path / "m.pt", hrcam_model, metadata={"class_names": ["a"]})
    with pytest.raises(ValueError, match="contradicts"):
        save_checkpoint(tmp_path / "m.pt", hrcam_model, metadata={"arch": "resnet50"})
    assert not list(tmp_path.iterdir())


def test_atomic_save_keeps_old_file_when_pickling_fails(tmp_path):
    path = atomic_torch_save({"a": torch.ones(2)}, tmp_path / "x.pt")
    with pytest.raises(Exception):  # noqa: B017 - whatever torch.save raises
        atomic_torch_save({"bad": lambda: 0}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]
