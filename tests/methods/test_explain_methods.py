"""hrcam explain --methods / --classifier: any registered method, with or without an expansion
network (a bare torchvision model included), refusals in one line."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from hrcam.cli import main

SIZE = 64  # resnet18's stride is 32: a 2x2 low-res CAM


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(d / "square.png")
    Image.fromarray(rng.integers(0, 255, (50, 90, 3), dtype=np.uint8)).save(d / "wide.jpg")
    (d / "broken.png").write_bytes(b"not a png")
    return d


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("hrcam: error:") and "\n" not in err, err
    return err


def test_a_folder_explained_with_cam_jbu_on_a_bare_torchvision_model(
    folder, resnet_weights, tmp_path, capsys
):
    out = tmp_path / "out"
    args = ["explain", str(folder), "--classifier", "torchvision:resnet18", "--weights",
            str(resnet_weights), "--methods", "cam_jbu", "low_res_cam", "--image-size", str(SIZE),
            "-o", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 1  # the broken file is skipped, the others written
    printed = capsys.readouterr()
    assert "broken.png" in printed.err and "2 explained with cam_jbu, low_res_cam" in printed.out
    report = json.loads((out / "report.json").read_text())
    assert report["methods"] == ["cam_jbu", "low_res_cam"]
    assert "joint bilateral upsampling" in report["labels"]["cam_jbu"]
    assert report["model"] == "torchvision:resnet18"
    by_name = {w["path"].rsplit("/", 1)[-1]: w for w in report["written"]}
    assert set(by_name) == {"square.png", "wide.jpg"}
    for stem, (h, w) in (("square", (SIZE, SIZE)), ("wide", (50, 90))):
        for method in ("cam_jbu", "low_res_cam"):
            cam = np.load(out / f"{stem}_{method}.npy")
            assert cam.shape == (h, w) and cam.dtype == np.float32
            assert 0.0 <= cam.min() and cam.max() <= 1.0
            assert (out / f"{stem}_{method}.png").is_file()
        assert (out / f"{stem}_methods.png").is_file()
    entry = by_name["square.png"]
    assert entry["class_name"]  # the ImageNet name of the predicted class
    # The map written is the method's own map of the image at the model's size.
    from hrcam.methods import build_methods
    from hrcam.methods.images import BareClassifier
    from hrcam.models.wrap import build_wrapped

    clf = build_wrapped("torchvision:resnet18", resnet_weights)
    pixels = np.asarray(Image.open(folder / "square.png").convert("RGB"), dtype=np.float32)
    images = torch.from_numpy(pixels / 255.0).permute(2, 0, 1)[None]
    method = build_methods(BareClassifier(clf), ["cam_jbu"])["cam_jbu"]
    expected = method(images, [entry["label"]]).maps[0]
    np.testing.assert_allclose(np.load(out / "square_cam_jbu.npy"), expected, atol=1e-5)
    low = np.load(out / "square_low_res_cam.npy")
    assert np.abs(low - expected).max() > 0.01  # the guide changed the bilinear map


def test_refusals_say_what_to_pass_in_one_line(folder, resnet_weights, tiny_run, tmp_path, capsys):
    ckpt, _ = tiny_run
    zoo = ["--classifier", "torchvision:resnet18", "--weights", str(resnet_weights)]
    base = ["explain", str(folder), "-o", str(tmp_path / "o"), "--no-progress"]
    assert main([*base, "--checkpoint", str(ckpt), *zoo, "--methods", "cam_jbu"]) == 2
    assert "not both" in _one_line_error(capsys)
    assert main([*base, *zoo, "--methods", "refined_paper", "cam_jbu"]) == 2
    err = _one_line_error(capsys)
    assert "refined_paper" in err and "--methods low_res_cam cam_jbu" in err
    assert main([*base, *zoo]) == 2  # the default map is the paper's refined CAM
    assert "expansion network" in _one_line_error(capsys)
    assert main([*base, "--classifier", "torchvision:resnet18", "--methods", "cam_jbu"]) == 2
    assert "--weights" in _one_line_error(capsys)
    assert main([*base, *zoo, "--methods", "cam_jbu", "--image-size", "100"]) == 2
    assert "multiple of the classifier's stride 32" in _one_line_error(capsys)
    assert not (tmp_path / "o").exists()  # nothing was written by a refused command


def test_a_classifier_checkpoint_runs_the_methods_that_need_no_expansion(
    tiny_run, folder, tmp_path, capsys
):
    from hrcam.models import load_checkpoint, save_checkpoint

    ckpt, _ = tiny_run
    full = load_checkpoint(ckpt)
    alone = save_checkpoint(tmp_path / "clf.pt", full.classifier, metadata=dict(full.metadata))
    base = ["explain", str(folder / "square.png"), "--checkpoint", str(alone), "--no-progress"]
    assert main([*base, "-o", str(tmp_path / "a")]) == 2  # default: the refined CAM
    assert "--methods low_res_cam cam_jbu" in _one_line_error(capsys)
    assert main([*base, "-o", str(tmp_path / "b"), "--methods", "cam_jbu", "gradcam"]) == 0
    assert (tmp_path / "b" / "square_gradcam.npy").is_file()
    # With the expansion network, --methods may name the paper's maps too.
    full_args = ["explain", str(folder / "square.png"), "--checkpoint", str(ckpt)]
    full_args += ["-o", str(tmp_path / "c"), "--methods", "refined_paper", "cam_jbu"]
    assert main([*full_args, "--no-progress", "--workers", "1"]) == 0
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert set(report["written"][0]["maps"]) == {"refined_paper", "cam_jbu"}
