"""Training: classifier pre-training and expansion-network training (paper §4.2–4.3).

``train_classifier(...)`` and ``train_expansion(...)`` return a :class:`TrainResult` with the
per-epoch metrics and the checkpoint paths; the generic :func:`fit` loop behind them handles
devices (CPU/CUDA, bf16, channels_last, compile), bit-exact resume and torchrun/DDP.

Where things live: :mod:`~hrcam.train.config` (the run's settings), :mod:`~hrcam.train.tasks`
(what a task is), :mod:`~hrcam.train.loop` (``fit``), :mod:`~hrcam.train.loaders` (data order
and loading), :mod:`~hrcam.train.checkpointing` (``last.pt``/``best.pt`` and the resume
checks), :mod:`~hrcam.train.rng` (seeding, RNG states), :mod:`~hrcam.train.callbacks` (hooks
into the loop), :mod:`~hrcam.train.device` and :mod:`~hrcam.train.distributed`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hrcam.train.callbacks import Callback, KillAfterStep
    from hrcam.train.classifier import ClassifierTask, train_classifier
    from hrcam.train.config import TrainConfig
    from hrcam.train.expansion import ExpansionTask, train_expansion
    from hrcam.train.history import read_history
    from hrcam.train.loop import evaluate, fit
    from hrcam.train.result import TrainResult
    from hrcam.train.tasks import TrainTask
    from hrcam.train.upsampler import UpsamplerTask, train_upsampler

# Names resolved on first use, so that ``hrcam.train.config`` (the CLI's defaults) does not
# import torch through this package's ``__init__``.
_LAZY = {
    "Callback": "callbacks",
    "KillAfterStep": "callbacks",
    "ClassifierTask": "classifier",
    "train_classifier": "classifier",
    "TrainConfig": "config",
    "TrainResult": "result",
    "TrainTask": "tasks",
    "evaluate": "loop",
    "fit": "loop",
    "ExpansionTask": "expansion",
    "train_expansion": "expansion",
    "read_history": "history",
    "UpsamplerTask": "upsampler",
    "train_upsampler": "upsampler",
}

__all__ = [
    "Callback",
    "ClassifierTask",
    "ExpansionTask",
    "KillAfterStep",
    "TrainConfig",
    "TrainResult",
    "TrainTask",
    "UpsamplerTask",
    "evaluate",
    "fit",
    "read_history",
    "train_classifier",
    "train_expansion",
    "train_upsampler",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"hrcam.train.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'hrcam.train' has no attribute {name!r}")
