"""Training: classifier pre-training and expansion-network training (paper §4.2–4.3).

``train_classifier(...)`` and ``train_expansion(...)`` return a :class:`TrainResult` with the
per-epoch metrics and the checkpoint paths; the generic :func:`fit` engine behind them
handles devices (CPU/CUDA, bf16, channels_last, compile), bit-exact resume and torchrun/DDP.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hrcam.train.classifier import ClassifierTask, train_classifier
    from hrcam.train.config import TrainConfig
    from hrcam.train.engine import TrainResult, TrainTask, evaluate, fit
    from hrcam.train.expansion import ExpansionTask, train_expansion
    from hrcam.train.history import read_history

# Names resolved on first use, so that ``hrcam.train.config`` (the CLI's defaults) does not
# import torch through this package's ``__init__``.
_LAZY = {
    "ClassifierTask": "classifier",
    "train_classifier": "classifier",
    "TrainConfig": "config",
    "TrainResult": "engine",
    "TrainTask": "engine",
    "evaluate": "engine",
    "fit": "engine",
    "ExpansionTask": "expansion",
    "train_expansion": "expansion",
    "read_history": "history",
}

__all__ = [
    "ClassifierTask",
    "ExpansionTask",
    "TrainConfig",
    "TrainResult",
    "TrainTask",
    "evaluate",
    "fit",
    "read_history",
    "train_classifier",
    "train_expansion",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"hrcam.train.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'hrcam.train' has no attribute {name!r}")
