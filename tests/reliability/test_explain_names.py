"""``hrcam explain`` with hostile file and class names (issue #23 items 1 and 7): a name is
text, never mathtext, and one image's failure is a reported skip, never the end of the batch."""

from __future__ import annotations

import ast
import inspect
import json
import os

import numpy as np
import pytest
from PIL import Image

import hrcam.explain.files as files
import hrcam.explain.panels as panels


@pytest.fixture(scope="module")
def dollar_ck(tmp_path_factory):
    """An untrained 32-px checkpoint whose class names are mathtext."""
    import torch

    from hrcam.models import HRCAM, build_classifier, build_expansion, save_checkpoint

    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    path = tmp_path_factory.mktemp("ck") / "ck.pt"
    names = ["$x_$", "$\\frac{", "$$"]
    return save_checkpoint(path, model, metadata={"image_size": 32, "class_names": names})


def _images(folder):
    folder.mkdir()
    red = Image.new("RGB", (64, 48), "red")
    red.save(folder / "a_$5_$.png")
    red.save(folder / "b.png")
    red.save(os.path.join(os.fsencode(folder), b"c\xff.png"))
    return folder


@pytest.mark.slow
def test_dollar_and_non_utf8_names_are_explained_like_any_other(dollar_ck, tmp_path, run_cli):
    folder = _images(tmp_path / "in")
    status, out, err = run_cli("explain", folder, "--checkpoint", dollar_ck, "-o", tmp_path / "o",
                               "--no-progress")  # fmt: skip
    assert status == 0, err
    assert "3 explained, 0 skipped" in out and "c\\xff.png" in out
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert len(report["written"]) == 3
    for w in report["written"]:
        assert Image.open(w["panel"]).size[0] > 0 and np.load(w["refined_npy"]).shape == (48, 64)


def test_panel_draws_names_as_text(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    for title in ("a_$5_$.png: $x_$", "$\\frac{ (p=0.50)", "c\\xff.png"):
        path = tmp_path / "p.png"
        panels.draw_panel(rgb, np.linspace(0, 1, 64).reshape(8, 8), 10.0, title, path)
        assert path.stat().st_size > 0


def test_printable_shows_undecodable_bytes():
    name = os.fsdecode(b"c\xff.png")
    assert files.printable(name) == "c\\xff.png"
    assert files.printable("a_$5_$.png") == "a_$5_$.png"
    files.printable(name).encode("utf-8")  # printable anywhere


@pytest.mark.slow
def test_failure_while_writing_one_image_is_a_skip(ck, tmp_path, run_cli, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (40, 40), "blue").save(folder / name)
    real = files.draw_panel

    def flaky(rgb, refined, keep, title, path):
        if path.name.startswith("b_"):
            raise TypeError("cannot draw this")
        return real(rgb, refined, keep, title, path)

    monkeypatch.setattr(files, "draw_panel", flaky)
    status, _, err = run_cli("explain", folder, "--checkpoint", ck, "-o", tmp_path / "o",
                             "--no-progress")  # fmt: skip
    assert status == 1 and "Traceback" not in err
    assert "skipped" in err and "TypeError: cannot draw this" in err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [os.path.basename(w["path"]) for w in report["written"]] == ["a.png", "c.png"]
    # The failed image leaves nothing half-written (it had its map but no panel).
    assert not list((tmp_path / "o").glob("b_*"))


def test_explain_images_stays_under_100_lines():
    source = inspect.getsource(files)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            assert node.end_lineno - node.lineno + 1 <= 100, node.name
