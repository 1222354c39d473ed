"""``train expansion --eval-every``: localization columns beside MSE/PSNR in metrics.csv."""

from __future__ import annotations

import csv
import math

import pytest


def test_eval_every_columns_exist(tiny_store, trained_classifier, tmp_path):
    from hrcam.evaluate import localization_columns
    from hrcam.train import train_expansion

    result = train_expansion(
        data_root=tiny_store, run_dir=tmp_path / "exp", classifier_checkpoint=trained_classifier,
        epochs=3, batch_size=8, device="cpu", progress=False, eval_every=2, eval_images=6,
        max_train_batches=2,
    )  # fmt: skip
    with (tmp_path / "exp" / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    columns = localization_columns()
    assert {"val_mse", "val_psnr", *columns} <= set(rows[0])
    for name in ("low_res", "high_res", "refined_paper", "refined_reference"):
        assert f"loc_{name}_pxap" in columns and f"loc_{name}_mask_iou" in columns
    assert "loc_refined_paper_fallback" in columns
    # measured at epoch 2 and after the last epoch; nan in between
    measured = [not math.isnan(float(r["loc_low_res_pxap"])) for r in rows]
    assert measured == [False, True, True]
    for key in columns:
        value = float(rows[1][key])
        assert 0.0 <= value <= 1.0, (key, value)
    # the classifier is frozen: the low-res CAM's localization does not move
    assert rows[1]["loc_low_res_pxap"] == rows[2]["loc_low_res_pxap"]
    assert result.history[-1]["loc_refined_reference_fallback"] >= 0.0


def test_eval_every_off_by_default_and_validated(tiny_store, trained_classifier, tmp_path):
    from hrcam.train import TrainConfig, train_expansion

    result = train_expansion(
        data_root=tiny_store, run_dir=tmp_path / "exp", classifier_checkpoint=trained_classifier,
        epochs=1, batch_size=8, device="cpu", progress=False, max_train_batches=1,
    )  # fmt: skip
    assert not any(k.startswith("loc_") for k in result.history[0])
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=-1)


def test_cli_has_eval_every(capsys):
    from hrcam.cli import main

    with pytest.raises(SystemExit):
        main(["train", "expansion", "--help"])
    assert "--eval-every N" in capsys.readouterr().out
