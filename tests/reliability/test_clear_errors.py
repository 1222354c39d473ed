"""Misleading or raw errors of issue #23 item 5, each now one clear line."""

from __future__ import annotations

import pytest
from PIL import Image

from hrcam.errors import HrcamError


def test_cpu_index_is_refused_as_a_device_not_blamed_on_the_file():
    from hrcam.models.device import resolve_device

    with pytest.raises(ValueError, match="'cpu:1': there is one CPU device; use 'cpu'"):
        resolve_device("cpu:1")
    assert str(resolve_device("cpu:0")) == "cpu:0"


@pytest.mark.parametrize("command", ["explain", "evaluate"])
def test_cpu_index_in_explain_and_evaluate(command, ck, tiny_run, tmp_path, run_cli):
    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    if command == "explain":
        argv = ("explain", tmp_path / "a.png", "--checkpoint", ck, "-o", tmp_path / "o")
    else:
        argv = ("evaluate", "--checkpoint", ck, "--data", tiny_run[1], "-o", tmp_path / "o")
    status, _, err = run_cli(*argv, "--device", "cpu:1", "--no-progress")
    assert status == 2 and "one CPU device" in err and "damaged" not in err


def test_vision_transformer_is_refused_as_such():
    timm = pytest.importorskip("timm")
    from hrcam.models.wrap import wrap_classifier

    with pytest.raises(HrcamError, match="transformer"):  # was a 39-line AssertionError
        wrap_classifier(timm.create_model("vit_tiny_patch16_224", num_classes=4))


def test_imagenet_animals_on_a_small_model_says_what_it_needs(ck, tmp_path, run_cli):
    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    status, _, err = run_cli("explain", tmp_path / "a.png", "--checkpoint", ck, "-o",
                             tmp_path / "o", "--imagenet-animals", "--no-progress")  # fmt: skip
    assert status == 2 and "needs an ImageNet-1k model (1000 classes)" in err
    assert "has 3" in err and "397" not in err and len(err) < 300


def test_out_of_range_classes_are_listed_briefly():
    from hrcam.core.maps import check_class_indices

    with pytest.raises(ValueError, match=r"got \[3, 4, 5, 6, 7, 8, 9, 10, \.\.\.\] \(397\)$"):
        check_class_indices(list(range(400)), 3, "allowed_classes")


def test_hrcam_checkpoint_as_weights_says_what_it_is(ck):
    from pathlib import Path

    from hrcam.models.backbones import _read_state_dict_file

    with pytest.raises(ValueError, match=r"is an hrcam checkpoint \(kind 'hrcam'\).*--classifier"):
        _read_state_dict_file(Path(ck))


def test_hrcam_checkpoint_as_pretrained_in_the_cli(ck, tiny_run, tmp_path, run_cli):
    status, _, err = run_cli("train", "classifier", "--data", tiny_run[1], "--run-dir",
                             tmp_path / "r", "--pretrained", ck, "--device", "cpu",
                             "--no-progress")  # fmt: skip
    assert status == 2 and "is an hrcam checkpoint" in err and "found dict" not in err
