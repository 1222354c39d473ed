"""A training summary names its files relative to the working folder (a notebook's run folder)."""

from __future__ import annotations

from pathlib import Path

from hrcam.train.result import TrainResult


def _result(run: Path) -> TrainResult:
    return TrainResult(
        task="classifier",
        history=[{"epoch": 1, "train_loss": 0.5, "val_loss": 0.4}],
        run_dir=run,
        best_checkpoint=run / "best.pt",
        last_checkpoint=run / "last.pt",
        metrics_csv=run / "metrics.csv",
        metrics_json=run / "metrics.json",
        monitor="val_loss",
        best_value=0.4,
        best_epoch=1,
    )


def test_summary_inside_the_working_folder_shows_no_absolute_path(tmp_path, monkeypatch):
    run = tmp_path / "classifier"
    run.mkdir()
    monkeypatch.chdir(tmp_path)
    text = _result(run).summary()
    assert str(tmp_path) not in text
    assert "at epoch 1: classifier/best.pt" in text
    assert "last checkpoint: classifier/last.pt" in text


def test_summary_outside_the_working_folder_keeps_the_path(tmp_path, monkeypatch):
    run = tmp_path / "elsewhere"
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert f"last checkpoint: {run / 'last.pt'}" in _result(run).summary()
