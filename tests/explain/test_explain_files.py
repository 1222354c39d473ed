"""hrcam.explain and the explain/evaluate CLI: any image, original resolution, bad files skipped."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from hrcam import cli
from hrcam.errors import HrcamError
from hrcam.explain import explain_images, load_rgb, resize_map


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(d / "photo.jpg")
    Image.fromarray(rng.integers(0, 255, (33, 40), dtype=np.uint8), mode="L").save(d / "gray.png")
    rgba = rng.integers(0, 255, (64, 20, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: must become white
    Image.fromarray(rgba, mode="RGBA").save(d / "alpha.png")
    (d / "broken.png").write_bytes(b"this is not a png")
    return {
        "good": [d / "photo.jpg", d / "gray.png", d / "alpha.png"],
        "broken": d / "broken.png",
        "missing": d / "missing.jpg",
    }


def test_load_rgb_modes(image_files):
    photo, gray, alpha = (load_rgb(p) for p in image_files["good"])
    assert (photo.mode, photo.size) == ("RGB", (70, 50))
    assert gray.mode == "RGB" and np.ptp(np.asarray(gray), axis=2).max() == 0  # R == G == B
    np.testing.assert_array_equal(np.asarray(alpha), 255)
    with pytest.raises(ValueError, match="not an image"):
        load_rgb(image_files["broken"])
    with pytest.raises(ValueError, match="no such file"):
        load_rgb(image_files["missing"])


def test_resize_map_keeps_range_and_shape():
    cam = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    out = resize_map(cam, (50, 70))
    assert out.shape == (50, 70) and out.min() >= 0.0 and out.max() <= 1.0
    assert out[0].mean() < out[-1].mean()  # orientation kept


@pytest.mark.slow
def test_explain_writes_original_resolution_and_skips_bad(tiny_run, image_files, tmp_path):
    ckpt, _ = tiny_run
    paths = [*image_files["good"], image_files["broken"], image_files["missing"]]
    report = explain_images(paths, ckpt, tmp_path, batch_size=2, progress=False)
    assert [w.path for w in report.written] == [str(p) for p in image_files["good"]]
    assert {s.path for s in report.skipped} == {
        str(image_files["broken"]),
        str(image_files["missing"]),
    }
    for w, size in zip(report.written, [(50, 70), (33, 40), (64, 20)], strict=True):
        cam = np.load(w.refined_npy)
        assert cam.shape == size and cam.dtype == np.float32
        assert 0.0 <= cam.min() and cam.max() <= 1.0
        png = np.asarray(Image.open(w.refined_png))
        np.testing.assert_array_equal(png, np.round(cam * 255).astype(np.uint8))
        assert Image.open(w.panel).size[0] > 0
    saved = json.loads((tmp_path / "report.json").read_text())
    assert len(saved["written"]) == 3 and len(saved["skipped"]) == 2


@pytest.mark.slow
def test_explain_matches_explainer_at_model_size(tiny_run, tmp_path):
    """For an image already at the model's size, the written map is the Explainer's map."""
    import torch

    from hrcam.explain import Explainer
    from hrcam.models import load_checkpoint

    ckpt, store = tiny_run
    from hrcam.data.store import StoreDataset

    image = StoreDataset(store, "val")[0]["image"]
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / "x.png")
    report = explain_images([tmp_path / "x.png"], ckpt, tmp_path / "out", classes=1,
                            preset="reference", progress=False)  # fmt: skip
    model = load_checkpoint(ckpt).model()
    expected = Explainer(model, preset="reference").explain(image[None], [1])[0]
    got = np.load(report.written[0].refined_npy)
    np.testing.assert_allclose(got, np.clip(expected.refinement.refined, 0, 1), atol=1e-5)
    assert report.written[0].label == 1
    assert torch.is_tensor(image)


def test_explain_cli_reports_skipped_and_class_names(tiny_run, image_files, tmp_path, capsys):
    from hrcam.data.synthetic import synthetic_classes

    ckpt, _ = tiny_run
    name = synthetic_classes(3)[2]
    args = ["explain", str(image_files["good"][0]), str(image_files["broken"]), "--checkpoint",
            str(ckpt), "-o", str(tmp_path), "--class", name, "--no-progress"]  # fmt: skip
    assert cli.main(args) == 1  # something was skipped
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "1 explained, 1 skipped" in captured.out
    assert json.loads((tmp_path / "report.json").read_text())["written"][0]["label"] == 2
    bad = ["explain", str(image_files["good"][0]), "--checkpoint", str(ckpt), "-o",
           str(tmp_path), "--class", "unicorn"]  # fmt: skip
    assert cli.main(bad) == 2
    assert "unknown class name 'unicorn'" in capsys.readouterr().err


def test_explain_cli_precision(tiny_run, image_files, tmp_path, capsys, monkeypatch):
    """``--precision bfloat16-expansion`` writes maps close to float32's; a bad name is refused."""
    import hrcam.explain.explainer as explainer_module

    built = []

    class Recording(explainer_module.Explainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self.precision)

    monkeypatch.setattr(explainer_module, "Explainer", Recording)
    ckpt, _ = tiny_run
    base = ["explain", str(image_files["good"][0]), "--checkpoint", str(ckpt), "--no-progress"]
    assert cli.main([*base, "-o", str(tmp_path / "f32")]) == 0
    assert cli.main([*base, "-o", str(tmp_path / "bf16"), "--precision", "bfloat16-expansion"]) == 0
    exact = np.load(tmp_path / "f32" / "photo_refined.npy")
    fast = np.load(tmp_path / "bf16" / "photo_refined.npy")
    assert exact.shape == fast.shape and np.abs(fast - exact).max() <= 0.25
    assert built == ["float32", "bfloat16-expansion"]  # the flag reached the Explainer
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main([*base, "-o", str(tmp_path / "x"), "--precision", "half"])
    assert "invalid choice: 'half'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(HrcamError, match="unknown precision 'half'"):
        explain_images(image_files["good"][:1], ckpt, tmp_path / "y", precision="half")
    assert not (tmp_path / "y").exists()


def test_evaluate_cli_writes_tables(tiny_run, tmp_path, capsys):
    ckpt, store = tiny_run
    out = tmp_path / "eval"
    args = ["evaluate", "--checkpoint", str(ckpt), "--data", str(store), "--limit", "3",
            "--methods", "low_res_cam", "refined_reference", "--faithfulness-limit", "0",
            "--bootstrap", "50", "-o", str(out), "--no-progress"]  # fmt: skip
    assert cli.main(args) == 0
    for name in ("table.csv", "per_image.csv", "section5.csv", "report.md", "summary.json"):
        assert (out / name).is_file(), name
    assert "Refined CAM (reference)" in capsys.readouterr().out
    missing = ["evaluate", "--checkpoint", str(tmp_path / "nope.pt"), "--data", str(store),
               "-o", str(out)]  # fmt: skip
    assert cli.main(missing) == 2
    assert "--checkpoint" in capsys.readouterr().err
