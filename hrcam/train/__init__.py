"""Training: classifier pre-training and expansion-network training (paper §4.2–4.3).

``train_classifier(...)`` and ``train_expansion(...)`` return a :class:`TrainResult` with the
per-epoch metrics and the checkpoint paths; the generic :func:`fit` engine behind them
handles devices (CPU/CUDA, bf16, channels_last, compile), bit-exact resume and torchrun/DDP.
"""

from hrcam.train.classifier import ClassifierTask, train_classifier
from hrcam.train.config import TrainConfig
from hrcam.train.engine import TrainResult, TrainTask, evaluate, fit
from hrcam.train.expansion import ExpansionTask, train_expansion
from hrcam.train.history import read_history

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
