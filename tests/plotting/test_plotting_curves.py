"""plotting.training_curves draws losses and validation metrics, not the run's bookkeeping."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from hrcam import plotting

BOOKKEEPING = {"lr": 1.0, "global_step": 40, "train_img_per_s": 850.0, "epoch_time_s": 12.5}


def _lines(fig):
    return [{line.get_label(): line.get_ydata() for line in ax.get_lines()} for ax in fig.axes]


def test_classifier_history_plots_losses_and_accuracies_only():
    rng = np.random.default_rng(0)
    history = [
        {"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.1 / e, "val_top1": rng.random(),
         "val_top5": rng.random(), **BOOKKEEPING, "global_step": 40 * e}
        for e in range(1, 5)
    ]  # fmt: skip
    fig = plotting.training_curves(history, title="clf")
    left, right = _lines(fig)
    assert set(left) == {"train_loss", "val_loss"}
    assert set(right) == {"val_top1", "val_top5"}
    np.testing.assert_allclose(right["val_top1"], [h["val_top1"] for h in history])
    np.testing.assert_allclose(left["train_loss"], [h["train_loss"] for h in history])
    plt.close(fig)


def test_expansion_history_keeps_psnr_and_drops_its_linear_twin():
    history = {
        "train_loss": [0.9, 0.5, 0.4],
        "val_loss": [0.8, 0.6, 0.5],
        "val_mse": [0.04, 0.03, 0.02],
        "val_psnr": [14.0, 15.2, 17.0],
        **{k: [v] * 3 for k, v in BOOKKEEPING.items()},
    }
    fig = plotting.training_curves(history)
    left, right = _lines(fig)
    assert set(left) == {"train_loss", "val_loss"}
    assert set(right) == {"val_psnr"}
    plt.close(fig)


def test_history_without_losses_or_metrics_is_rejected():
    with pytest.raises(ValueError, match="no numeric loss"):
        plotting.training_curves([{"epoch": 1, **BOOKKEEPING}])
