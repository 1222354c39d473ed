"""The CLI on a pretrained zoo model: train an expansion network for it, resume, explain."""

import json

import numpy as np
import pytest
import torch

from hrcam.cli import main
from hrcam.data.photos import HELD_OUT_PHOTOS, build_photo_store, load_photo
from hrcam.errors import HrcamError
from hrcam.models import load_checkpoint

timm = pytest.importorskip("timm")


@pytest.fixture(scope="module")
def photo_store(tmp_path_factory):
    return build_photo_store(
        tmp_path_factory.mktemp("photos"), image_size=32, train_per_photo=2, val_per_photo=1
    )


def test_photo_store_never_holds_the_shown_photos(tmp_path):
    with pytest.raises(HrcamError, match="held out"):
        build_photo_store(tmp_path, photos=["rocket", HELD_OUT_PHOTOS[0]])
    assert load_photo("chelsea").dtype == np.uint8


@pytest.mark.slow
def test_train_expansion_for_a_timm_model_resume_and_explain(tmp_path, photo_store, capsys):
    torch.manual_seed(0)
    native = timm.create_model("resnet10t", pretrained=False, num_classes=1000).eval()
    weights = tmp_path / "resnet10t.pth"
    torch.save(native.state_dict(), weights)
    run = tmp_path / "run"
    common = ["train", "expansion", "--data", str(photo_store), "--run-dir", str(run)]
    common += ["--classifier", "timm:resnet10t", "--weights", str(weights), "--no-progress"]
    common += ["--batch-size", "4", "--device", "cpu", "--workers", "0"]
    assert main([*common, "--epochs", "1"]) == 0
    assert main([*common, "--epochs", "2"]) == 0  # resumes from last.pt: one more epoch
    history = json.loads((run / "metrics.json").read_text())
    rows = history["epochs"] if isinstance(history, dict) and "epochs" in history else history
    assert len(rows) == 2
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt.metadata["arch"] == "timm:resnet10t"
    assert ckpt.metadata["class_names"][285] == "Egyptian cat"
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():  # the pretrained weights went in unchanged
        assert torch.allclose(ckpt.classifier(x), native(x), atol=1e-5)

    from PIL import Image

    Image.fromarray(load_photo("chelsea")).save(tmp_path / "cat.png")
    capsys.readouterr()
    out = tmp_path / "explained"
    args = ["explain", str(tmp_path / "cat.png"), "--checkpoint", str(run / "best.pt")]
    code = main([*args, "-o", str(out), "--no-progress", "--imagenet-animals"])
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    entry = report["written"][0] if "written" in report else report["images"][0]
    assert entry["label"] < 398  # restricted to the animal classes
    assert entry["class_name"] in printed  # the ImageNet name, not "class N"


def test_zoo_classifier_needs_weights(tmp_path, photo_store, capsys):
    args = ["train", "expansion", "--data", str(photo_store), "--run-dir", str(tmp_path / "r")]
    code = main([*args, "--classifier", "timm:resnet10t", "--no-progress"])
    assert code != 0
    assert "--weights" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_accepts_a_wrapped_checkpoint(tmp_path, photo_store, capsys):
    from hrcam.data.synthetic import generate_synthetic

    torch.manual_seed(0)
    native = timm.create_model("resnet10t", pretrained=False, num_classes=1000).eval()
    torch.save(native.state_dict(), tmp_path / "w.pth")
    run = tmp_path / "run"
    train = ["train", "expansion", "--data", str(photo_store), "--run-dir", str(run)]
    train += ["--classifier", "timm:resnet10t", "--weights", str(tmp_path / "w.pth")]
    train += ["--epochs", "1", "--batch-size", "4", "--device", "cpu", "--no-progress"]
    assert main(train) == 0
    masks = tmp_path / "masks"  # any store with masks: the model explains its own top class
    generate_synthetic(masks, num_train=1, num_val=4, image_size=32, num_classes=3, num_workers=0)
    capsys.readouterr()
    args = ["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(masks)]
    args += ["-o", str(tmp_path / "ev"), "--limit", "4", "--bootstrap", "10", "--workers", "1"]
    code = main([*args, "--methods", "low_res_cam", "refined_paper", "gradcam", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "Low-res CAM" in printed and "Grad-CAM" in printed
