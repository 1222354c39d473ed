"""Reports and checks that misstated what ran (issue #23 item 6)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from hrcam.models.checkpoint import CheckpointError, load_checkpoint


@pytest.mark.slow
def test_evaluate_report_states_its_resamples_and_what_section5_needs(tiny_run, tmp_path,
                                                                      run_cli):  # fmt: skip
    ckpt, store = tiny_run
    status, _, err = run_cli("evaluate", "--checkpoint", ckpt, "--data", store, "-o",
                             tmp_path / "e", "--limit", "3", "--methods", "low_res_cam",
                             "--faithfulness-limit", "0", "--road-limit", "0", "--bootstrap",
                             "37", "--no-progress")  # fmt: skip
    assert status == 0, err
    report = (tmp_path / "e" / "report.md").read_text()
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert "(37 resamples)" in report and "1000 resamples" not in report
    assert summary["config"]["ci"].endswith("(37 resamples)")
    assert "needs a second method besides `low_res_cam`" in report


def test_section5_without_the_baseline_names_it():
    from hrcam.evaluate.report import _section5_needs

    assert "`low_res_cam` method" in _section5_needs(["refined_paper"])
    assert "second method" in _section5_needs(["low_res_cam"])


def test_avif_and_heic_in_a_folder_are_taken_and_reported(tmp_path):
    from hrcam.explain.files import expand_inputs, load_rgb

    Image.new("RGB", (16, 16), "red").save(tmp_path / "a.avif")
    (tmp_path / "b.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    (tmp_path / "notes.txt").write_text("not an image")
    found = [p.name for p in expand_inputs([tmp_path])]
    assert found == ["a.avif", "b.heic"]  # HEIC used to be dropped without a word
    assert load_rgb(tmp_path / "a.avif").size == (16, 16)
    with pytest.raises(ValueError):  # without a HEIC codec: a reported skip with a reason
        load_rgb(tmp_path / "b.heic")


def _tampered(ck, tmp_path, change):
    payload = torch.load(ck, weights_only=True)
    change(payload)
    path = tmp_path / "t.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(format_version=True), "format version True"),
        (lambda p: p.update(format_version=-5), "format version -5"),
        (lambda p: p["metadata"].update(kind="bogus"), "metadata.kind is 'bogus'"),
        (lambda p: p["metadata"].update(kind="classifier"), "but the file has expansion"),
        (lambda p: p["metadata"].update(class_names=["a", "b"]), r"class_names \(2\)"),
        (lambda p: p["metadata"].update(class_names=[1, 2, 3]), "list of 3 strings"),
    ],
)
def test_checkpoint_metadata_is_checked(ck, tmp_path, change, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(_tampered(ck, tmp_path, change))


def test_expansion_checkpoint_as_classifier_gets_a_note(ck, tiny_run, tmp_path, run_cli):
    _, store = tiny_run
    status, _, err = run_cli("train", "expansion", "--data", store, "--classifier", ck,
                             "--run-dir", tmp_path / "x", "--epochs", "1", "--batch-size", "4",
                             "--max-train-batches", "1", "--max-val-batches", "1",
                             "--device", "cpu", "--no-progress")  # fmt: skip
    assert status == 0, err
    assert "is an expansion checkpoint; its classifier is used" in err
    assert "expansion network is ignored" in err
