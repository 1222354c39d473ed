"""The CAM upsamplers of issue 26: cam_bilateral, featup_jbu, and grad-cam's SESS and RefineCAM."""

import cv2
import numpy as np
import pytest
import torch

from hrcam.methods import build_methods, method_names
from hrcam.methods.registry import get_method, runnable_method_names
from hrcam.models.jbu import UpsamplerError, build_upsampler, with_upsampler

SIZE = 64
TARGETS = [0, 2, 1]


def test_cam_bilateral_equals_opencvs_joint_bilateral_filter_on_the_low_res_cam(
    model, images, minmax
):
    methods = build_methods(model, ["low_res_cam", "cam_bilateral"])
    low = methods["low_res_cam"](images, TARGETS).maps
    pixels = images.permute(0, 2, 3, 1).numpy()
    stride = model.classifier.stride
    expected = np.stack([
        cv2.ximgproc.jointBilateralFilter(p, m, 2 * stride + 1, 0.1, stride / 2)
        for m, p in zip(low, pixels, strict=True)
    ])  # fmt: skip
    maps = methods["cam_bilateral"](images, TARGETS).maps
    np.testing.assert_allclose(maps, minmax(expected), atol=1e-6)
    assert np.abs(maps - low).max() > 0.01  # the filter changed the bilinear CAM


def test_featup_jbu_refuses_a_model_without_a_trained_upsampler(model):
    with pytest.raises(UpsamplerError, match="hrcam train upsampler"):
        build_methods(model, ["featup_jbu"])
    with pytest.raises(UpsamplerError, match="untrained"):
        with_upsampler(model, build_upsampler(model.classifier))


def test_featup_jbu_is_its_jbu_applied_to_the_exact_low_res_cam(model, images, minmax):
    upsampler = build_upsampler(model.classifier)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in upsampler.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))
    upsampler.trained.fill_(True)
    carrier = with_upsampler(model, upsampler)
    maps = build_methods(carrier, ["featup_jbu"])["featup_jbu"](images, TARGETS).maps
    from hrcam.models import normalize_images

    x = normalize_images(images)
    with torch.no_grad():
        features = model.classifier.forward_features(x).cam_features
        low = torch.einsum("bk,bkhw->bhw", model.classifier.fc.weight[TARGETS], features)
        cams = upsampler(low.unsqueeze(1), x)[:, 0]
        # ... which is the class weights applied to the upsampled K-channel features.
        high = upsampler(features, x)
        via_features = torch.einsum("bk,bkhw->bhw", model.classifier.fc.weight[TARGETS], high)
    np.testing.assert_allclose(maps, minmax(cams.numpy()), atol=1e-4)
    np.testing.assert_allclose(maps, minmax(via_features.numpy()), atol=1e-4)
    assert maps.shape == (3, SIZE, SIZE)


def test_sess_and_refinecam_run_through_grad_cam(model, images):
    methods = build_methods(model, ["sess", "refinecam"])
    for name, method in methods.items():
        maps = method(images[:1], TARGETS[:1]).maps
        assert maps.shape == (1, SIZE, SIZE) and maps.min() >= 0 and maps.max() == pytest.approx(1)
        assert np.isfinite(maps).all(), name


def test_opt_in_methods_are_listed_but_not_run_by_default(capsys):
    from hrcam.cli import main

    for name in ("cam_jbu", "cam_bilateral", "featup_jbu", "sess", "refinecam"):
        assert name in method_names()
    assert "sess" not in runnable_method_names() and "featup_jbu" not in runnable_method_names()
    assert not get_method("sess").default and "cam_bilateral" in runnable_method_names()
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in ("cam_jbu", "cam_bilateral", "featup_jbu", "sess", "refinecam"):
        assert name in help_text


def test_cli_trains_an_upsampler_and_evaluates_featup_jbu_with_it(tiny_run, tmp_path, capsys):
    from hrcam.cli import main

    ckpt, store = tiny_run
    run = tmp_path / "ups"
    assert main(["train", "upsampler", "--data", str(store), "--classifier", str(ckpt),
                 "--run-dir", str(run), "--epochs", "1", "--batch-size", "3", "--device", "cpu",
                 "--no-progress"]) == 0  # fmt: skip
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(store), "-o", str(out),
                 "--methods", "low_res_cam", "featup_jbu", "--upsampler", str(run / "best.pt"),
                 "--limit", "4", "--faithfulness-limit", "0", "--road-limit", "0",
                 "--bootstrap", "50", "--no-progress"]) == 0  # fmt: skip
    assert "learned JBU" in capsys.readouterr().out  # its row in the printed report
    # Without --upsampler the method is refused with what to do.
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(store), "-o",
                 str(tmp_path / "e2"), "--methods", "featup_jbu", "--limit", "2",
                 "--no-progress"]) != 0  # fmt: skip
    assert "hrcam train upsampler" in capsys.readouterr().err
