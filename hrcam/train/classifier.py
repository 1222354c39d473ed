"""Classifier pre-training (paper §4.2): cross-entropy, adadelta, the paper's augmentation.

Validation measures top-1/top-5; ``best.pt`` is chosen by top-1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hrcam.train.callbacks import Callback
from hrcam.train.config import TrainConfig
from hrcam.train.loop import fit
from hrcam.train.result import TrainResult
from hrcam.train.rng import seed_everything
from hrcam.train.tasks import ImageTask, load_into, open_splits

__all__ = [
    "ClassifierTask",
    "train_classifier",
]


class ClassifierTask(ImageTask):
    """Cross-entropy training of a :class:`~hrcam.models.CAMClassifier`.

    Parameters
    ----------
    model
        The classifier.
    augment, augment_p
        Training-time augmentation switch and per-transform probability.
    metadata
        Checkpoint metadata (class names, input size, ...), passed to ``save_checkpoint``.
    """

    name = "classifier"
    monitor = "val_top1"
    monitor_mode = "max"

    def loss(self, output: Any, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Return the cross-entropy of the logits ``output`` against ``labels``."""
        return F.cross_entropy(output.float(), labels)

    def eval_sums(
        self, output: Any, inputs: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Return the batch's summed cross-entropy and its top-1 and top-5 hit counts."""
        logits = output.float()
        k = min(5, logits.shape[1])
        topk = logits.topk(k, dim=1).indices
        hits = topk == labels[:, None]
        return {
            "loss": F.cross_entropy(logits, labels, reduction="sum").double(),
            "top1": hits[:, 0].sum().double(),
            "top5": hits.any(dim=1).sum().double(),
        }

    def save(self, path: Path, extra: dict[str, Any]) -> None:
        """Save the classifier with its metadata and the loop's ``extra`` payload."""
        from hrcam.models import save_checkpoint

        save_checkpoint(path, self.model, metadata=self.metadata, extra=extra)

    def load(self, path: Path) -> dict[str, Any]:
        """Load a classifier checkpoint into the model; return its ``extra`` payload."""
        from hrcam.models import load_checkpoint

        checkpoint = load_checkpoint(path)
        if checkpoint.classifier is None or checkpoint.expansion is not None:
            raise ValueError(f"{path} is not a classifier checkpoint")
        load_into(self.model, checkpoint.classifier, "classifier", path)
        return dict(checkpoint.extra or {})


def train_classifier(
    config: TrainConfig | None = None, *, callbacks: Sequence[Callback] = (), **overrides: Any
) -> TrainResult:
    """Pre-train the CAM classifier on a store; resumable, DDP-aware.

    Parameters
    ----------
    config
        The run's settings (default: ``TrainConfig(task="classifier")``).
    callbacks
        :class:`~hrcam.train.callbacks.Callback` s told about every step and epoch end.
    **overrides
        Fields of :class:`TrainConfig` to change, e.g.
        ``train_classifier(data_root="runs/data", run_dir="runs/clf", epochs=8, progress=False)``.

    Returns
    -------
    TrainResult
        Per-epoch metrics (``result.history``) and the ``best.pt``/``last.pt`` paths.
    """
    config = (config or TrainConfig(task="classifier")).replace(task="classifier", **overrides)
    from hrcam.models import build_classifier

    train_set, val_set = open_splits(config.data_root)
    seed_everything(config.seed)  # model initialisation is part of the run's seed
    model = build_classifier(
        config.arch, num_classes=len(train_set.classes), k=config.k, weights=config.pretrained
    )
    metadata = {
        "class_names": list(train_set.classes),
        "image_size": int(train_set.image_size),
        "task": "classifier",
    }
    task = ClassifierTask(model, config.augment, config.augment_p, metadata)
    return fit(task, train_set, val_set, config, callbacks=callbacks)
