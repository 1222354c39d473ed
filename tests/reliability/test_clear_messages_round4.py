"""Clear messages of issue #33 item 7: each method that needs cv2.ximgproc names itself, the
timm extra advertises a call that works, a read-only book folder is said to be read-only, and
a chapter skipped on request says so."""

from __future__ import annotations

import subprocess
import types

import cv2
import nbformat
import numpy as np
import pytest
import torch

from hrcam.errors import HrcamError, MissingExtraError


@pytest.fixture
def no_ximgproc(monkeypatch):
    """cv2 as the plain opencv wheel leaves it: ``cv2.ximgproc`` without its functions."""
    monkeypatch.setattr(cv2, "ximgproc", types.SimpleNamespace(), raising=False)


@pytest.fixture(scope="module")
def model():
    from hrcam.models import HRCAM, build_classifier, build_expansion

    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    return HRCAM(clf, build_expansion(clf, image_size=32)).eval()


@pytest.mark.parametrize("method", ["cam_guided", "cam_bilateral"])
def test_each_method_needing_ximgproc_names_itself(no_ximgproc, model, method):
    from hrcam.methods import hires_method

    with pytest.raises(MissingExtraError) as info:
        hires_method(model, method)
    message = str(info.value)
    assert message.startswith(f"method {method} needs")
    assert ({"cam_guided", "cam_bilateral"} - {method}).pop() not in message
    assert "pip install 'hrcam[contrib]'" in message


@pytest.mark.parametrize("function", ["guided_refine", "bilateral_refine"])
def test_each_filter_function_names_itself(no_ximgproc, function):
    import hrcam.methods as methods

    fn = getattr(methods, function)
    with pytest.raises(MissingExtraError, match=rf"^{function} needs OpenCV's cv2\.ximgproc"):
        fn(np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.float32), 1, 0.1)


def test_the_timm_extra_advertises_a_call_that_works():
    from hrcam.extras import EXTRAS
    from hrcam.models import build_wrapped, wrap_classifier

    assert "wrap_classifier('timm:" not in EXTRAS["timm"]
    assert "build_wrapped('timm:NAME')" in EXTRAS["timm"]
    assert callable(build_wrapped)
    # ... and the call that was advertised says which one to use.
    with pytest.raises(HrcamError, match=r"build_wrapped\('timm:resnet18'\)"):
        wrap_classifier("timm:resnet18")


def test_a_read_only_book_folder_is_said_to_be_read_only(tmp_path, monkeypatch):
    import hrcam.book.runner as book

    (tmp_path / "book").mkdir()

    def never(*args, **kwargs):
        raise AssertionError("jupyter-book must not run on a read-only folder")

    monkeypatch.setattr(book.subprocess, "run", never)
    monkeypatch.setattr(book.os, "access", lambda path, mode: False)  # as on a read-only mount
    with pytest.raises(book.BookError) as info:
        book.build_book(tmp_path / "book")
    assert "is read-only" in str(info.value) and "\n" not in str(info.value)


def test_a_folder_made_read_only_during_the_build_is_named(tmp_path, monkeypatch):
    import hrcam.book.runner as book

    (tmp_path / "book").mkdir()
    log = ("Running Sphinx v7\nTraceback (most recent call last):\n  File ...\nOSError: "
           "[Errno 30] Read-only file system: 'book/_build/.doctrees'\n")  # fmt: skip

    def failed(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 2, stdout="", stderr=log)

    monkeypatch.setattr(book.subprocess, "run", failed)
    with pytest.raises(book.BookError) as info:
        book.build_book(tmp_path / "book")
    message = str(info.value)
    assert "is read-only" in message and "\n" not in message and "Sphinx" not in message


def test_a_chapter_skipped_on_request_says_so(tmp_path, monkeypatch):
    from hrcam.book.sources import skipped_chapter
    from hrcam.data import cutouts

    monkeypatch.setattr(cutouts, "missing_cutout_packages", lambda: [])  # all installed
    cfg = {"cutout_stamps": None, "cutout_backgrounds": None}
    path = skipped_chapter(tmp_path / "10.ipynb", "10_real_cutouts", "real_cutouts", cfg)
    text = nbformat.read(path, as_version=4).cells[0].source
    assert "as requested" in text and "Install" not in text and "apt-get" not in text
    # Packages that are really missing are named, with the line that installs them.
    monkeypatch.setattr(cutouts, "missing_cutout_packages", lambda: ["tuxpaint-stamps-default"])
    path = skipped_chapter(tmp_path / "10b.ipynb", "10_real_cutouts", "real_cutouts", cfg)
    text = nbformat.read(path, as_version=4).cells[0].source
    assert "as requested" in text and "apt-get install tuxpaint-stamps-default" in text
