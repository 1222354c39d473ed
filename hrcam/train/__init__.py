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

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader), so that importing
# the package imports none of its modules.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs=public_names(
        __file__,
        [
            "callbacks",
            "classifier",
            "config",
            "expansion",
            "history",
            "loop",
            "result",
            "tasks",
            "upsampler",
        ],
    ),
)
